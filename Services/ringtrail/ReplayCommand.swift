import Foundation
import Model
import SecurityKit
import ServiceKit

/// `ringtrail replay`: plays the web tier, the carrier and the call center against the running services.
enum ReplayCommand {
    static let help = """
        usage: ringtrail replay [--prepare] [options]

          --prepare            write the tenants file and keys for a replay to --dir, then exit; start the
                               services with RINGTRAIL_TENANTS=<dir>/tenants.json before the replay itself
          --dir PATH           where the prepared files and the report go (default .run/replay; the report
                               is also written to .run/report.json)
          --log PATH           an Apache or nginx access log in the combined format; without it, traffic is
                               generated from a seeded model whose parameters are printed
          --speed N            time compression: every duration is divided by N (default 1000)
          --seed N             seed of every random draw (default 42)
          --pool-size N        tracking numbers in the pool (default 10), with --prepare
          --call-share F       share of human sessions that call (default 0.15)
          --visitors N         visitors of generated traffic (default 1200)
          --retry-for SECONDS  keep retrying a request that got 503 or no answer for this long (default 0:
                               two retries); `make chaos` sets it so traffic outlives the faults
          --days N             days of generated traffic (default 3)
          --number-pool URL, --ingester URL, --call-router URL, --attribution URL
                               the services (default http://127.0.0.1:8081 to :8084)
        """

    struct Options {
        var prepare = false
        var directory = ".run/replay"
        var log: String?
        var speed = 1000.0
        var seed: UInt64 = 42
        var poolSize = 10
        var callShare = 0.15
        var visitors = 1200
        var days = 3.0
        var retrySeconds = 0.0
        var numberPool = "http://127.0.0.1:8081"
        var ingester = "http://127.0.0.1:8082"
        var callRouter = "http://127.0.0.1:8083"
        var attribution = "http://127.0.0.1:8084"
    }

    static func parse(_ arguments: [String]) throws -> Options {
        var options = Options()
        var index = 0
        func value() throws -> String {
            guard index + 1 < arguments.count else { throw ReplayError("\(arguments[index]) needs a value") }
            index += 1
            return arguments[index]
        }
        func number<T: LosslessStringConvertible>(_ text: String, _ flag: String) throws -> T {
            guard let parsed = T(text) else { throw ReplayError("\(flag) needs a number, got \(text)") }
            return parsed
        }
        while index < arguments.count {
            let flag = arguments[index]
            switch flag {
            case "--prepare": options.prepare = true
            case "--dir": options.directory = try value()
            case "--log": options.log = try value()
            case "--speed": options.speed = try number(try value(), flag)
            case "--seed": options.seed = try number(try value(), flag)
            case "--pool-size": options.poolSize = try number(try value(), flag)
            case "--call-share": options.callShare = try number(try value(), flag)
            case "--visitors": options.visitors = try number(try value(), flag)
            case "--days": options.days = try number(try value(), flag)
            case "--retry-for": options.retrySeconds = try number(try value(), flag)
            case "--number-pool": options.numberPool = try value()
            case "--ingester": options.ingester = try value()
            case "--call-router": options.callRouter = try value()
            case "--attribution": options.attribution = try value()
            case "--help", "-h":
                say(help)
                exit(0)
            default: throw ReplayError("unknown option \(flag)\n\(help)")
            }
            index += 1
        }
        guard options.retrySeconds >= 0 else { throw ReplayError("--retry-for must be 0 or more seconds") }
        guard options.speed >= 1 else { throw ReplayError("--speed must be at least 1") }
        guard (1...1000).contains(options.poolSize) else { throw ReplayError("--pool-size must be 1 to 1000") }
        guard (0...1).contains(options.callShare) else { throw ReplayError("--call-share must be 0 to 1") }
        return options
    }

    static func run(_ arguments: [String]) async throws {
        let options = try parse(arguments)
        if options.prepare {
            try prepare(options)
            return
        }
        let settingsPath = options.directory + "/settings.json"
        guard let data = FileManager.default.contents(atPath: settingsPath) else {
            throw ReplayError("no \(settingsPath); run `ringtrail replay --prepare` first and start the services "
                              + "with RINGTRAIL_TENANTS=\(options.directory)/tenants.json (make run does both)")
        }
        let settings = try JSONDecoder().decode(ReplaySettings.self, from: data)
        let driver = try ReplayDriver(options: options, settings: settings)
        try await driver.run()
    }

    static func prepare(_ options: Options) throws {
        let settings = ReplaySettings.make(speed: options.speed, seed: options.seed, poolSize: options.poolSize)
        try FileManager.default.createDirectory(atPath: options.directory, withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try encoder.encode(settings).write(to: URL(fileURLWithPath: options.directory + "/settings.json"))
        try encoder.encode(settings.tenants()).write(to: URL(fileURLWithPath: options.directory + "/tenants.json"))
        say("replay prepared in \(options.directory): pool of \(options.poolSize) numbers, speed \(options.speed)")
    }
}
