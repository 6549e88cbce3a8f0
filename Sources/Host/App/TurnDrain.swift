import Logging
import NIOCore
import ServiceLifecycle

/// The router's turns as a swift-service-lifecycle `Service`: `run()` waits for graceful
/// shutdown or cancellation, then for the turns queued and running to finish (their
/// deferred replies reach the outbox) within `grace` seconds, and stops the router's
/// threads. The gateway stops it after the listeners and the periodic jobs, before the
/// outbox (see `Gateway.shutdownOrder`), so a message acknowledged before the signal is
/// answered or in the outbox when the outbox's last round runs.
///
/// Threading: one `run()`; the idle notice comes from a router thread, the grace from the
/// host's timer loop.
struct TurnDrain: Service {
    let router: ConversationRouter
    let grace: Double
    let timerLoop: any EventLoop
    let logger: Logger

    func run() async {
        try? await gracefulShutdown()
        let sleeper = ServiceSleeper(loop: timerLoop)
        router.queues.whenIdle { sleeper.wake() }
        _ = await sleeper.sleep(grace)
        let left = router.queues.depth
        if left > 0 { logger.warning("shutdown: \(left) turn(s) still queued or running after \(grace)s") }
        router.shutdown()
    }
}
