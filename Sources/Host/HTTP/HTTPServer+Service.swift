import ServiceLifecycle

/// The listener as a swift-service-lifecycle `Service`. It is bound by `start()` before the
/// service group runs (so /livez answers while the gateway starts); `run()` serves until
/// graceful shutdown or cancellation, then stops accepting, lets the requests in flight
/// finish within `server.shutdown_grace` and closes the connections
/// (`shutdown(grace:)`). The gateway stops it first (see `Gateway.shutdownOrder`).
extension HTTPServer: Service {
    public func run() async {
        try? await gracefulShutdown()
        logger.info("shutting down: draining in-flight requests")
        await shutdown(grace: config.shutdownGrace)
    }
}
