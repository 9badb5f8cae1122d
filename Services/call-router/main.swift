import Store

await ServiceRunner.run(name: "call-router", defaultPort: 8083) { context, router in
    let service = CallRouterService(context: context)
    service.registerRoutes(on: router)
    return [{ await service.runScreening() }]
}
