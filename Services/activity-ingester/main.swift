import Store

await ServiceRunner.run(name: "activity-ingester", defaultPort: 8082) { context, router in
    let service = IngesterService(context: context)
    service.registerRoutes(on: router)
    return [{ await service.runConsumer() }]
}
