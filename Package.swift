// swift-tools-version: 6.0
import PackageDescription

let strict: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

// Debian's librdkafka 2.0.2 cannot talk to current brokers (its ApiVersions parser reads tagged fields wrong), so
// `make deps` puts a current, self-contained librdkafka in `.deps/lib` as `librdkafka.so.1`. The run path makes
// every binary of the package load that copy instead of Debian's, with no environment variable.
let runPath: [LinkerSetting] = [
    .unsafeFlags([
        "-Xlinker", "-rpath", "-Xlinker", Context.packageDirectory + "/.deps/lib",
        "-Xlinker", "-rpath", "-Xlinker", "$ORIGIN/../../../.deps/lib",
        "-Xlinker", "-rpath", "-Xlinker", "$ORIGIN/../lib",
    ])
]

func service(_ name: String, path: String, dependencies: [Target.Dependency]) -> Target {
    .executableTarget(
        name: name,
        dependencies: dependencies,
        path: path,
        swiftSettings: strict,
        linkerSettings: runPath
    )
}

let package = Package(
    name: "ringtrail",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "number-pool", targets: ["number-pool"]),
        .executable(name: "activity-ingester", targets: ["activity-ingester"]),
        .executable(name: "call-router", targets: ["call-router"]),
        .executable(name: "attribution-worker", targets: ["attribution-worker"]),
        .executable(name: "ringtrail", targets: ["ringtrail"]),
    ],
    targets: [
        // MARK: - C libraries from Debian
        .systemLibrary(name: "CRdKafka", path: "Shared/CRdKafka", providers: [.apt(["librdkafka-dev"])]),
        .systemLibrary(name: "CHiredis", path: "Shared/CHiredis", providers: [.apt(["libhiredis-dev"])]),
        .systemLibrary(name: "CMicroHTTPD", path: "Shared/CMicroHTTPD", providers: [.apt(["libmicrohttpd-dev"])]),
        .systemLibrary(name: "CCrypto", path: "Shared/CCrypto", providers: [.apt(["libssl-dev"])]),
        .target(
            name: "CPhoneNumber",
            path: "Shared/CPhoneNumber",
            cxxSettings: [.unsafeFlags(["-std=c++17"])],
            linkerSettings: [
                .linkedLibrary("phonenumber"),
                .linkedLibrary("geocoding"),
                .linkedLibrary("icuuc"),
                .linkedLibrary("stdc++"),
            ]
        ),

        // MARK: - Shared modules
        .target(name: "Model", path: "Shared/Model", swiftSettings: strict),
        .target(name: "SecurityKit", dependencies: ["CCrypto"], path: "Shared/SecurityKit", swiftSettings: strict),
        .target(name: "PhoneKit", dependencies: ["CPhoneNumber"], path: "Shared/PhoneKit", swiftSettings: strict),
        .target(name: "ServiceKit", dependencies: ["Model"], path: "Shared/ServiceKit", swiftSettings: strict),
        .target(
            name: "KafkaKit",
            dependencies: ["CRdKafka", "ServiceKit"],
            path: "Shared/KafkaKit",
            swiftSettings: strict
        ),
        .target(
            name: "RedisKit",
            dependencies: ["CHiredis", "ServiceKit"],
            path: "Shared/RedisKit",
            swiftSettings: strict
        ),
        .target(
            name: "HTTPKit",
            dependencies: ["CMicroHTTPD", "Model", "ServiceKit"],
            path: "Shared/HTTPKit",
            swiftSettings: strict
        ),
        .target(
            name: "CarrierWebhooks",
            dependencies: ["Model", "PhoneKit"],
            path: "Shared/CarrierWebhooks",
            swiftSettings: strict
        ),
        .target(
            name: "Store",
            dependencies: ["Model", "RedisKit", "KafkaKit", "HTTPKit", "ServiceKit", "SecurityKit"],
            path: "Shared/Store",
            swiftSettings: strict
        ),

        // MARK: - Executables
        service("number-pool", path: "Services/number-pool", dependencies: ["Store"]),
        service("activity-ingester", path: "Services/activity-ingester", dependencies: ["Store", "PhoneKit"]),
        service("call-router", path: "Services/call-router", dependencies: ["Store", "CarrierWebhooks"]),
        service("attribution-worker", path: "Services/attribution-worker", dependencies: ["Store"]),
        service("ringtrail", path: "Services/ringtrail", dependencies: ["Store"]),

        // MARK: - Tests
        .testTarget(
            name: "ModelTests",
            dependencies: ["Model", "SecurityKit", "PhoneKit", "Store", "HTTPKit", "ServiceKit", "CarrierWebhooks", "RedisKit"],
            path: "Tests/ModelTests",
            swiftSettings: strict,
            linkerSettings: runPath
        ),
        .testTarget(
            name: "IntegrationTests",
            dependencies: ["Model", "Store", "KafkaKit", "RedisKit", "SecurityKit"],
            path: "Tests/IntegrationTests",
            swiftSettings: strict,
            linkerSettings: runPath
        ),
    ]
)
