import Store

await ServiceRunner.run(name: "attribution-worker", defaultPort: 8084) { context, router in
    let service = AttributionService(context: context)
    service.registerRoutes(on: router)
    return [{ await service.runConsumer() }]
}
