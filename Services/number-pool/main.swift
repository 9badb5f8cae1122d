import Store

await ServiceRunner.run(name: "number-pool", defaultPort: 8081) { context, router in
    let service = NumberPoolService(context: context)
    try await service.syncPools()
    service.registerRoutes(on: router)
    return [{ await service.runRenewals() }, { await service.watchPools() }, { await service.outbox.run() }]
}
