/// One contract break `darkspere plugin-check` found. `kind` is the stable name printed in
/// the report (and matched by tests); `message` says what happened, in the plugin's terms.
struct CheckFinding: Sendable, Equatable {
    enum Kind: String, Sendable, CaseIterable {
        /// dlopen failed, no entry symbol, or the entry returned NULL for this host's major.
        case load
        /// The descriptor's abi_major differs from the host's, or the ABI symbol disagrees.
        case abiVersion = "abi_version"
        /// A descriptor field is missing or malformed (id, name, version, interfaces).
        case descriptor
        /// A struct the plugin wrote (descriptor, interface table, ds_outcome, ...) is smaller
        /// than its ABI 1.0 layout.
        case structSizeTooSmall = "struct_size_too_small"
        /// A member the header requires is NULL in an interface table.
        case missingFunction = "missing_function"
        /// get_interface answered wrongly (NULL for a listed id, a table for an unknown one).
        case getInterface = "get_interface"
        /// config_schema / agent_config_schema is not valid JSON or uses unknown keywords.
        case schema
        /// create()/open()/validate_config() refused the plugin's own example config.
        case exampleConfigRefused = "example_config_refused"
        /// create()/open()/validate_config() refused a config without saying why.
        case refusedWithoutReason = "refused_without_reason"
        /// A status returned or completed that the function's table does not allow.
        case statusOutsideTable = "status_outside_table"
        /// An operation completed more than once (or a route op answered twice).
        case completedTwice = "completed_twice"
        /// An operation that was accepted (DS_OK/DS_PENDING) and never completed.
        case neverCompleted = "never_completed"
        /// An operation completed well after cancel(): the plugin ignored the cancel and
        /// the host had already dropped the op (its outcome is lost).
        case completedAfterCancel = "completed_after_cancel"
        /// An operation completed and then refused (negative return) as well.
        case completedAndRefused = "completed_and_refused"
        /// An operation completed after its instance's destroy() returned.
        case completedAfterDestroy = "completed_after_destroy"
        /// complete() on a route op, or respond() on an operation.
        case wrongFunction = "wrong_function"
        /// complete()/respond() with an op the host never handed out.
        case unknownOp = "unknown_op"
        /// A host service called after the instance's destroy() returned.
        case serviceAfterDestroy = "service_after_destroy"
        /// A timer of a destroyed instance fired (the plugin did not cancel it in destroy()).
        case timerAfterDestroy = "timer_after_destroy"
        /// A host service called with a handle the host never gave out.
        case invalidHandle = "invalid_handle"
        /// A host service called with an unusable argument (NULL op, bad URL, bad address).
        case invalidArgument = "invalid_argument"
        /// A callback on a host thread (HTTP, timer, submit, route handler, cancel) did not
        /// return within the bound.
        case blockingCallback = "blocking_callback"
        /// The case's process died of a signal.
        case crash
        /// The case's process did not finish within its time limit (killed).
        case hang
        /// The plugin ended the process itself (exit) in the middle of a case.
        case exited
    }

    var kind: Kind
    var message: String
}

/// Names of status codes, for messages ("DS_ERR_TIMEOUT (-5)").
enum StatusName {
    static let names: [Int32: String] = [
        0: "DS_OK", 1: "DS_PENDING", 2: "DS_RETRY", 3: "DS_DEFERRED",
        -1: "DS_ERR_FAILED", -2: "DS_ERR_CONFIG", -3: "DS_ERR_AUTH", -4: "DS_ERR_RATE_LIMITED", -5: "DS_ERR_TIMEOUT",
        -6: "DS_ERR_UNAVAILABLE", -7: "DS_ERR_INVALID", -8: "DS_ERR_NOT_FOUND", -9: "DS_ERR_DENIED", -10: "DS_ERR_CANCELLED",
        -11: "DS_ERR_UNSUPPORTED", -12: "DS_ERR_TOO_LARGE", -13: "DS_ERR_OPTED_OUT",
    ]
    static func of(_ s: Int32) -> String { names[s].map { "\($0) (\(s))" } ?? "\(s) (not a ds_status of ABI 1.2)" }
    static func isError(_ s: Int32) -> Bool { s < 0 && names[s] != nil }
}
