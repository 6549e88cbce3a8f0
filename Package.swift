// swift-tools-version:6.0
// DarkSpere: an SMS-to-agent gateway whose channels, agent transports, billing
// providers and log sinks are shared-library plugins behind a versioned C ABI.
import PackageDescription

/// The ABI header as a module, served by the PluginKit package (one copy of the header:
/// Sources/PluginAPI/include/darkspere_plugin.h).
let pluginAPI: Target.Dependency = .product(name: "PluginAPI", package: "PluginKit")
let pluginKit: Target.Dependency = .product(name: "PluginKit", package: "PluginKit")
/// C plugins find the header without depending on any Swift module.
let cHeader: [CSetting] = [.headerSearchPath("../../Sources/PluginAPI/include")]
let fixtureHeader: [CSetting] = [.headerSearchPath("../../../Sources/PluginAPI/include")]

let package = Package(
    name: "DarkSpere",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "darkspere", targets: ["darkspere"]),
        // Bundled and example plugins: each a shared library named libds-<short name>.so.
        .library(name: "ds-c-echo-agent", type: .dynamic, targets: ["CEchoAgent"]),
        .library(name: "ds-swift-echo-agent", type: .dynamic, targets: ["SwiftEchoAgent"]),
        // Deliberately broken plugins for the loader's tests (not listed by `darkspere plugins`).
        .library(name: "fixture-abi2", type: .dynamic, targets: ["FixtureABI2"]),
        .library(name: "fixture-no-entry", type: .dynamic, targets: ["FixtureNoEntry"]),
        .library(name: "fixture-create-fails", type: .dynamic, targets: ["FixtureCreateFails"]),
        .library(name: "fixture-abi10", type: .dynamic, targets: ["FixtureABI10"]),
        // Router tests and bench: a channel that submits from an HTTP route and records sends,
        // plus an agent transport whose failures are switched by a file.
        .library(name: "fixture-test-channel", type: .dynamic, targets: ["FixtureTestChannel"]),
    ],
    dependencies: [
        .package(path: "PluginKit"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
    ],
    targets: [
        .systemLibrary(name: "CSQLite", path: "Sources/CSQLite", providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "CLibPQ", path: "Sources/CLibPQ", providers: [.apt(["libpq-dev"])]),
        .systemLibrary(name: "CCurl", path: "Sources/CCurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        .target(
            name: "Host",
            dependencies: [
                pluginAPI, "CSQLite", "CCurl", "CLibPQ",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "darkspere",
            dependencies: ["Host", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),

        // Examples: the ABI from both sides.
        .target(name: "CEchoAgent", path: "Examples/c-echo-agent", exclude: ["README.md"], publicHeadersPath: ".", cSettings: cHeader),
        .target(name: "SwiftEchoAgent", dependencies: [pluginKit], path: "Examples/swift-echo-agent", exclude: ["README.md"]),

        // Loader test fixtures, in C against the header alone.
        .target(name: "FixtureABI2", path: "Tests/Fixtures/abi2", publicHeadersPath: ".", cSettings: fixtureHeader),
        .target(name: "FixtureNoEntry", path: "Tests/Fixtures/no-entry", publicHeadersPath: ".", cSettings: fixtureHeader),
        .target(name: "FixtureCreateFails", path: "Tests/Fixtures/create-fails", publicHeadersPath: ".", cSettings: fixtureHeader),
        .target(name: "FixtureABI10", path: "Tests/Fixtures/abi10", publicHeadersPath: ".", cSettings: fixtureHeader),
        .target(name: "FixtureTestChannel", path: "Tests/Fixtures/test-channel", publicHeadersPath: ".", cSettings: fixtureHeader),

        // Benchmarks.
        .executableTarget(name: "darkspere-router-bench", dependencies: ["Host"], path: "bench/router/lookup"),

        .testTarget(name: "HostTests", dependencies: ["Host"], path: "Tests/HostTests"),
    ],
    swiftLanguageModes: [.v5]
)
