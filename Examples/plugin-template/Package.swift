// swift-tools-version:6.0
// A third-party DarkSpere plugin, built on its own. Copy this folder, rename
// "MyAdapter", and point the PluginKit path at your DarkSpere checkout (or at a copy
// of its PluginKit folder together with Sources/PluginAPI). It depends on the ABI
// header (product PluginAPI) and PluginKit only: no host code.
import PackageDescription

let package = Package(
    name: "MyAdapter",
    products: [
        // The library name becomes libds-my-adapter.so; `library: my-adapter` finds it.
        .library(name: "ds-my-adapter", type: .dynamic, targets: ["MyAdapter"]),
    ],
    dependencies: [
        .package(name: "PluginKit", path: "../../PluginKit"),
    ],
    targets: [
        .target(name: "MyAdapter", dependencies: [.product(name: "PluginKit", package: "PluginKit")]),
    ],
    swiftLanguageModes: [.v6]
)
