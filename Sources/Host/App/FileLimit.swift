#if canImport(Glibc)
import Glibc
#endif

/// The process's open-file limit (RLIMIT_NOFILE).
enum FileLimit {
    /// Raises the soft limit to the hard limit (systemd starts services with a soft limit of
    /// 1,024 and a much higher hard one); returns the soft limit now in force. Process-wide.
    @discardableResult
    static func raiseSoftToHard() -> Int {
        var rl = rlimit()
        guard getrlimit(resource, &rl) == 0 else { return 1024 }
        if rl.rlim_cur < rl.rlim_max {
            var raised = rl
            raised.rlim_cur = rl.rlim_max == infinity ? max(rl.rlim_cur, 1 << 20) : rl.rlim_max
            if setrlimit(resource, &raised) == 0 { rl = raised }
        }
        return rl.rlim_cur == infinity ? Int(Int32.max) : Int(rl.rlim_cur)
    }

    /// The soft limit in force.
    static var current: Int {
        var rl = rlimit()
        guard getrlimit(resource, &rl) == 0 else { return 1024 }
        return rl.rlim_cur == infinity ? Int(Int32.max) : Int(rl.rlim_cur)
    }

    private static var resource: __rlimit_resource_t { __rlimit_resource_t(RLIMIT_NOFILE.rawValue) }
    private static let infinity = rlim_t.max
}
