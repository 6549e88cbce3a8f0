// swift-tools-version:6.0
// PluginKit: Swift helpers for DarkSpere plugins. A package of its own so that its
// dynamic library exists exactly once in the gateway process, shared by every Swift
// plugin (see DESIGN.md, "A SwiftPM fact that shapes the layout").
import PackageDescription

let package = Package(
    name: "PluginKit",
    products: [
        // The C ABI header as a module (no code). `Sources/PluginAPI` is a link to the
        // repository's `Sources/PluginAPI`, the one copy of the header.
        .library(name: "PluginAPI", targets: ["PluginAPI"]),
        .library(name: "PluginKit", type: .dynamic, targets: ["PluginKit"]),
    ],
    targets: [
        .systemLibrary(name: "PluginAPI", path: "Sources/PluginAPI"),
        .target(name: "PluginKit", dependencies: ["PluginAPI"]),
    ],
    swiftLanguageModes: [.v6]
)
