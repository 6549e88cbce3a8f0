import Dispatch
#if canImport(Glibc)
import Glibc
#endif

/// The executor PluginKit's operation and route tasks prefer (`Task.immediate` with this as
/// their executor preference): a task starts on the host thread that called the plugin and
/// runs there until it first suspends; after a suspension it continues on the thread that
/// resumed it (the host's HTTP client thread that completed a request, the store writer
/// that answered a submit, ...) instead of being handed to the cooperative pool first.
/// That saves one thread change per suspension of a message's operations (issue #12: at
/// most 4 thread changes for a synchronous agent, 6 for an asynchronous one; measured by
/// ThreadHopTests).
///
/// What this asks of plugin code: between two suspension points it must not block (it
/// runs on a host thread that serves others too); the host's threads complete plugin
/// requests without blocking, so continuing there is as cheap as it is short. A job
/// enqueued while another job runs inline on the same thread nests; past `maxDepth`
/// nested jobs it goes to the global concurrent executor instead (bounded stack).
///
/// Threading: any thread. Sendable: no state (the nesting depth is thread-local).
final class ResumingExecutor: TaskExecutor {
    static let shared = ResumingExecutor()
    static let maxDepth = 8

    /// How many jobs run inline on this thread now.
    private static let depthKey: pthread_key_t = {
        var k = pthread_key_t()
        pthread_key_create(&k, nil)
        return k
    }()

    func enqueue(_ job: consuming ExecutorJob) {
        let depth = Int(bitPattern: pthread_getspecific(Self.depthKey))
        guard depth < Self.maxDepth else {
            let unowned = UnownedJob(job)
            DispatchQueue.global().async { unowned.runSynchronously(on: self.asUnownedTaskExecutor()) }
            return
        }
        pthread_setspecific(Self.depthKey, UnsafeRawPointer(bitPattern: depth + 1))
        job.runSynchronously(on: asUnownedTaskExecutor())
        pthread_setspecific(Self.depthKey, UnsafeRawPointer(bitPattern: depth))
    }
}
