import Store

// Two Redis connections: concurrent lease requests then share each connection's write and read (see
// RedisConnection), which a benchmark showed saves Redis about 10% of its CPU per lease against eight.
await ServiceRunner.run(name: "number-pool", defaultPort: 8081, defaultRedisConnections: 2) { context, router in
    let service = NumberPoolService(context: context)
    try await service.syncPools()
    service.registerRoutes(on: router)
    return [{ await service.runRenewals() }, { await service.watchPools() }, { await service.outbox.run() }]
}
