import Synchronization

/// Host objects handed to plugins as opaque C pointers (`ds_op *`, `ds_timer *`), by id.
///
/// The pointer a plugin holds is not the address of host memory but a 64-bit id: the owning
/// instance's index (`InstanceHandle.index`) in the high 16 bits and a sequence number that is
/// never reused below. A plugin that passes an id back after the object is gone (an op
/// completed twice, a timer cancelled after it fired) makes the host look up an id that is no
/// longer registered: nothing freed is touched, and the caller decides what to count.
///
/// Thread safety: any thread; 64 independently locked shards keep the hot path (one insert
/// and one removal per operation) uncontended.
final class HandleTable<Object: AnyObject & Sendable>: Sendable {
    private final class Shard: Sendable {
        let map = Mutex<[UInt64: Object]>([:])
    }

    private let shards: [Shard] = (0..<64).map { _ in Shard() }
    private let sequence = Atomic<UInt64>(0)

    /// Bits of an id below the owner index.
    static var ownerShift: UInt64 { 48 }

    /// Registers `object` for `owner` (0 = no instance) and returns its non-zero id.
    func insert(_ object: Object, owner: UInt16) -> UInt64 {
        let seq = sequence.add(1, ordering: .relaxed).newValue & ((1 << Self.ownerShift) - 1)
        let id = UInt64(owner) << Self.ownerShift | seq
        shards[Int(seq & 63)].map.withLock { $0[id] = object }
        return id
    }

    /// Removes and returns the object, or nil if `id` is unknown or already removed.
    func take(_ id: UInt64) -> Object? {
        shards[Int(id & 63)].map.withLock { $0.removeValue(forKey: id) }
    }

    /// The object, still registered, or nil.
    func get(_ id: UInt64) -> Object? {
        shards[Int(id & 63)].map.withLock { $0[id] }
    }

    /// How many objects are registered (tests).
    var count: Int { shards.reduce(0) { n, s in n + s.map.withLock { $0.count } } }

    static func id(_ p: OpaquePointer) -> UInt64 { UInt64(UInt(bitPattern: p)) }
    static func pointer(_ id: UInt64) -> OpaquePointer { OpaquePointer(bitPattern: UInt(id))! }
    static func owner(of id: UInt64) -> UInt16 { UInt16(truncatingIfNeeded: id >> ownerShift) }
}
