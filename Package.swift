// swift-tools-version:6.0
// DarkSpere: an SMS-to-agent gateway whose channels, agent transports, billing
// providers and log sinks are shared-library plugins behind a versioned C ABI.
import Foundation
import PackageDescription

/// The gateway's allocator: jemalloc (Debian's libjemalloc-dev to build, libjemalloc2 to run),
/// linked into the `darkspere` executable only. Its `malloc` then serves the whole process:
/// the host, the Swift runtime, libsqlite3, libpq and every plugin loaded into it. The
/// message path makes many small, short-lived objects on several threads; glibc's
/// allocator cost 10-12 % more CPU per message there (BENCHMARKS.md, "The allocator"). The sanitizer
/// builds (scripts/sanitize.sh) set DARKSPERE_MALLOC=system: ThreadSanitizer and
/// AddressSanitizer bring their own allocator. `DARKSPERE_MALLOC=system swift build`
/// builds without it where jemalloc is not available.
let allocator: [LinkerSetting] = ProcessInfo.processInfo.environment["DARKSPERE_MALLOC"] == "system"
    ? [] : [.linkedLibrary("jemalloc", .when(platforms: [.linux]))]

/// The ABI header as a module, served by the PluginKit package (one copy of the header:
/// Sources/PluginAPI/include/darkspere_plugin.h).
let pluginAPI: Target.Dependency = .product(name: "PluginAPI", package: "PluginKit")
let pluginKit: Target.Dependency = .product(name: "PluginKit", package: "PluginKit")
/// C plugins find the header without depending on any Swift module.
let cHeader: [CSetting] = [.headerSearchPath("../../Sources/PluginAPI/include")]
let fixtureHeader: [CSetting] = [.headerSearchPath("../../../Sources/PluginAPI/include")]

/// Tests are still written for Swift 5 mode: converting them is a separate, mechanical job.
let testSettings: [SwiftSetting] = [.swiftLanguageMode(.v5)]

let package = Package(
    name: "DarkSpere",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "darkspere", targets: ["darkspere"]),
        // Bundled and example plugins: each a shared library named libds-<short name>.so.
        .library(name: "ds-c-echo-agent", type: .dynamic, targets: ["CEchoAgent"]),
        .library(name: "ds-swift-echo-agent", type: .dynamic, targets: ["SwiftEchoAgent"]),
        .library(name: "ds-file-sink", type: .dynamic, targets: ["FileSink"]),
        .library(name: "ds-postgres-sink", type: .dynamic, targets: ["PostgresSink"]),
        .library(name: "ds-twilio", type: .dynamic, targets: ["TwilioSMS"]),
        .library(name: "ds-stripe", type: .dynamic, targets: ["StripeBilling"]),
        // Channels of issue 17: Telegram bots and the web chat widget.
        .library(name: "ds-telegram", type: .dynamic, targets: ["Telegram"]),
        .library(name: "ds-webchat", type: .dynamic, targets: ["WebChat"]),
        // Benchmark ceiling: a route that answers a fixed TwiML document (bench/twilio); no ds- prefix, so `darkspere plugins` does not list it.
        .library(name: "bench-fixed-twiml", type: .dynamic, targets: ["BenchFixedTwiML"]),
        // Agent transports (issue 5).
        .library(name: "ds-mcp", type: .dynamic, targets: ["MCPTransport"]),
        .library(name: "ds-http-agent", type: .dynamic, targets: ["HTTPAgentTransport"]),
        .library(name: "ds-openai", type: .dynamic, targets: ["OpenAITransport"]),
        // The example MCP agent the default plugins.yaml launches over stdio.
        .executable(name: "darkspere-example-agent", targets: ["ExampleAgent"]),
        // Transport benchmark (bench/transports).
        .executable(name: "transport-bench", targets: ["TransportBench"]),
        // Deliberately broken plugins for the loader's tests (not listed by `darkspere plugins`).
        .library(name: "fixture-abi2", type: .dynamic, targets: ["FixtureABI2"]),
        .library(name: "fixture-no-entry", type: .dynamic, targets: ["FixtureNoEntry"]),
        .library(name: "fixture-create-fails", type: .dynamic, targets: ["FixtureCreateFails"]),
        .library(name: "fixture-abi10", type: .dynamic, targets: ["FixtureABI10"]),
        .library(name: "fixture-swift-all", type: .dynamic, targets: ["FixtureSwiftAll"]),
        .library(name: "fixture-contract-breaker", type: .dynamic, targets: ["FixtureContractBreaker"]),
        .library(name: "fixture-abi11", type: .dynamic, targets: ["FixtureABI11"]),
        .library(name: "fixture-abi12", type: .dynamic, targets: ["FixtureABI12"]),
        .library(name: "fixture-null-entry", type: .dynamic, targets: ["FixtureNullEntry"]),
        // plugin-check: breaks one contract rule, chosen by DS_CHECK_BREAKER.
        .library(name: "fixture-check-breaker", type: .dynamic, targets: ["FixtureCheckBreaker"]),
        // Router tests and bench: a channel that submits from an HTTP route and records sends,
        // plus an agent transport whose failures are switched by a file.
        .library(name: "fixture-test-channel", type: .dynamic, targets: ["FixtureTestChannel"]),
        // libFuzzer targets (fuzz/, scripts/fuzz.sh); the plain build makes replay drivers.
        .executable(name: "fuzz-http", targets: ["FuzzHTTP"]),
        .executable(name: "fuzz-form", targets: ["FuzzForm"]),
        .executable(name: "fuzz-json", targets: ["FuzzJSON"]),
    ],
    dependencies: [
        .package(path: "PluginKit"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.1.0"),   // HeapModule (SlotTimer); already SwiftNIO's
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
    ],
    targets: [
        .systemLibrary(name: "CSQLite", path: "Sources/CSQLite", providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "CLibPQ", path: "Sources/CLibPQ", providers: [.apt(["libpq-dev"])]),
        .systemLibrary(name: "CCurl", path: "Sources/CCurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        // libcrypto (system, shared by the process) and the digests the webhook-signing
        // plugins use from it; SMS segment counting, used by the host (usage) and Twilio.
        .systemLibrary(name: "COpenSSL", path: "Sources/COpenSSL", providers: [.apt(["libssl-dev"])]),
        .target(name: "Digests", dependencies: ["COpenSSL"], path: "Sources/Digests"),
        .target(name: "SMSText", path: "Sources/SMSText"),
        .target(
            name: "Host",
            dependencies: [
                pluginAPI, "CSQLite", "CCurl", "CLibPQ", "SMSText",  // SMSText: SMS segment counting for usage
                "Digests",  // SHA-256 of agent keys and of the config file (reload, darkspere_config_info)
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "HeapModule", package: "swift-collections"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            // The admin API's OpenAPI document, served at GET /api/v1/openapi.json, and the
            // operator console's static files, served at / on the admin listener.
            resources: [.copy("Admin/openapi.json"), .copy("Admin/Console")]
        ),
        .executableTarget(
            name: "darkspere",
            dependencies: ["Host", "TwilioCore", "SMSText", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            linkerSettings: allocator
        ),

        // Bundled plugins.
        .target(name: "FileSink", dependencies: [pluginKit], path: "Plugins/FileSink"),
        .target(name: "PostgresSink", dependencies: [pluginKit, "CLibPQ"], path: "Plugins/PostgresSink"),
        // Bundled plugins. TwilioCore is the channel's pure logic (signatures, TwiML, forms,
        // segments, keywords), shared by the plugin, the CLI's `sms` command and the tests.
        .target(name: "TwilioCore", dependencies: ["Digests", "SMSText"], path: "Plugins/TwilioSMS/Core"),
        .target(name: "TwilioSMS", dependencies: ["TwilioCore", pluginKit], path: "Plugins/TwilioSMS/Plugin"),
        // Stripe billing: libcrypto (system, shared) for webhook HMAC-SHA256; HTTP through the host.
        .target(name: "StripeBilling", dependencies: [pluginKit, "Digests"], path: "Plugins/StripeBilling/Plugin"),
        // Telegram: pure Bot API logic (TelegramCore; TwilioCore for splitting, Digests for HMAC) + the PluginKit shell.
        .target(name: "ChannelSupport", path: "Plugins/ChannelSupport"),
        .target(name: "TelegramCore", dependencies: ["TwilioCore", "Digests", "ChannelSupport"], path: "Plugins/Telegram/Core"),
        .target(name: "Telegram", dependencies: ["TelegramCore", "TwilioCore", "Digests", "ChannelSupport", pluginKit], path: "Plugins/Telegram/Plugin"),
        // Web chat: tokens, origins, mailbox (WebChatCore) + the PluginKit shell with the widget.
        .target(name: "WebChatCore", dependencies: ["Digests", "ChannelSupport"], path: "Plugins/WebChat/Core"),
        .target(name: "WebChat", dependencies: ["WebChatCore", "TwilioCore", "ChannelSupport", pluginKit], path: "Plugins/WebChat/Plugin"),
        .target(name: "BenchFixedTwiML", path: "bench/twilio/fixed-twiml", publicHeadersPath: ".", cSettings: fixtureHeader),

        // Examples: the ABI from both sides.
        .target(name: "CEchoAgent", path: "Examples/c-echo-agent", exclude: ["README.md"], publicHeadersPath: ".", cSettings: cHeader),
        .target(name: "SwiftEchoAgent", dependencies: [pluginKit], path: "Examples/swift-echo-agent", exclude: ["README.md"]),

        // Agent transports: PluginKit and Foundation only (HTTP through the host's client).
        .target(name: "MCPTransport", dependencies: [pluginKit], path: "Plugins/MCP", exclude: ["README.md"]),
        .target(name: "HTTPAgentTransport", dependencies: [pluginKit], path: "Plugins/HTTPAgent", exclude: ["README.md"]),
        .target(name: "OpenAITransport", dependencies: [pluginKit], path: "Plugins/OpenAI", exclude: ["README.md"]),
        .executableTarget(name: "ExampleAgent", path: "Examples/mcp-echo-server", exclude: ["README.md"]),
        .executableTarget(name: "TransportBench", dependencies: ["Host"], path: "bench/transports"),

        // Loader test fixtures, in C against the header alone.
        .target(name: "FixtureABI2", path: "Tests/Fixtures/abi2", publicHeadersPath: ".", cSettings: fixtureHeader),
        .target(name: "FixtureNoEntry", path: "Tests/Fixtures/no-entry", publicHeadersPath: ".", cSettings: fixtureHeader),
        .target(name: "FixtureCreateFails", path: "Tests/Fixtures/create-fails", publicHeadersPath: ".", cSettings: fixtureHeader),
        .target(name: "FixtureABI10", path: "Tests/Fixtures/abi10", publicHeadersPath: ".", cSettings: fixtureHeader),
        .target(name: "FixtureTestChannel", path: "Tests/Fixtures/test-channel", publicHeadersPath: ".", cSettings: fixtureHeader),
        .target(name: "FixtureContractBreaker", path: "Tests/Fixtures/contract-breaker", publicHeadersPath: ".", cSettings: fixtureHeader),
        .target(name: "FixtureABI11", path: "Tests/Fixtures/abi11", publicHeadersPath: ".", cSettings: fixtureHeader),
        .target(name: "FixtureABI12", path: "Tests/Fixtures/abi12", publicHeadersPath: ".", cSettings: fixtureHeader),
        .target(name: "FixtureNullEntry", path: "Tests/Fixtures/null-entry", publicHeadersPath: ".", cSettings: fixtureHeader),
        .target(name: "FixtureCheckBreaker", path: "Tests/Fixtures/check-breaker", publicHeadersPath: ".", cSettings: fixtureHeader),

        // Benchmarks.
        .executableTarget(name: "darkspere-router-bench", dependencies: ["Host"], path: "bench/router/lookup"),

        .target(name: "FixtureSwiftAll", dependencies: [pluginKit], path: "Tests/Fixtures/swift-all"),

        // Benchmarks (see BENCHMARKS.md).
        .executableTarget(name: "bench-abi", dependencies: ["Host"], path: "bench/abi"),
        .executableTarget(name: "bench-sinks", dependencies: ["Host"], path: "bench/sinks"),
        .executableTarget(name: "bench-admin", dependencies: ["Host", .product(name: "Logging", package: "swift-log")], path: "bench/admin"),

        // Fuzz targets: the plain build makes replay drivers for their corpora; scripts/fuzz.sh
        // makes libFuzzer binaries of them (see fuzz/ and the README's "Fuzzing").
        // FuzzSupport: the replay driver the three share.
        .target(name: "FuzzSupport", path: "fuzz/support"),
        .executableTarget(name: "FuzzHTTP", dependencies: ["Host", .product(name: "NIOEmbedded", package: "swift-nio"), "FuzzSupport"],
                          path: "fuzz/http", exclude: ["corpus"]),
        .executableTarget(name: "FuzzForm", dependencies: ["TwilioCore", "FuzzSupport"], path: "fuzz/form", exclude: ["corpus"]),
        .executableTarget(name: "FuzzJSON", dependencies: ["Host", "TelegramCore", "TwilioCore", "WebChatCore", "ChannelSupport", "FuzzSupport"],
                          path: "fuzz/json", exclude: ["corpus"]),

        .target(name: "TestPeers", path: "Tests/TestPeers", exclude: ["slow_clients.py"], swiftSettings: testSettings),
        .testTarget(name: "HostTests", dependencies: ["TestPeers", "Host"], path: "Tests/HostTests", exclude: ["Console"], swiftSettings: testSettings),
        .testTarget(name: "StripeTests", dependencies: ["TestPeers", "Host"], path: "Tests/StripeTests", exclude: ["fake_stripe.py", "abi10_host.c"], swiftSettings: testSettings),
        .testTarget(name: "TwilioTests", dependencies: ["TestPeers", "TwilioCore", "SMSText", "Digests", "Host"], path: "Tests/TwilioTests", exclude: ["fake_twilio.py", "media_agent.py"], swiftSettings: testSettings),
        .target(name: "ChannelTestSupport", dependencies: ["Host"], path: "Tests/ChannelTestSupport", swiftSettings: testSettings),
        .testTarget(name: "WebChatTests", dependencies: ["TestPeers", "ChannelTestSupport", "WebChatCore", "Host"], path: "Tests/WebChatTests", exclude: ["browser_test.py"], swiftSettings: testSettings),
        .testTarget(name: "TelegramTests", dependencies: ["TestPeers", "ChannelTestSupport", "TelegramCore", "ChannelSupport", "Host"], path: "Tests/TelegramTests", exclude: ["fake_telegram.py"], swiftSettings: testSettings),
        .testTarget(name: "TransportTests", dependencies: ["TestPeers", "Host"], path: "Tests/TransportTests", exclude: ["Fixtures"], swiftSettings: testSettings),
    ],
    // Swift 6 language mode (complete concurrency checking) for every product target; the
    // test targets (and their support libraries) stay in Swift 5 mode, see `testSettings`.
    swiftLanguageModes: [.v6]
)
