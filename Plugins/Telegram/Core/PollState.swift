import Foundation
import Synchronization

/// Polling mode's memory of handled updates: the `offset` for getUpdates (every update
/// below it is handled) and the handled ids above it (updates of different chats finish
/// out of order). Kept in a small JSON file, replaced atomically (write + rename) after
/// every handled update, so that after a restart no update is handled twice.
///
/// Thread-safe (one mutex); file writes happen under it, in order.
public final class PollState: Sendable {
    struct State { var offset: Int64; var handled: Set<Int64> }
    let path: String?
    private let state: Mutex<State>

    /// Loads the file at `path` (nil: memory only). A missing file is a fresh start; an
    /// unreadable one is an error (the operator must look, not lose the offset silently).
    public init(path: String?) throws {
        self.path = path
        var s = State(offset: 0, handled: [])
        if let path, FileManager.default.fileExists(atPath: path) {
            guard let data = FileManager.default.contents(atPath: path),
                  let o = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
                  let offset = (o["offset"] as? NSNumber)?.int64Value else {
                throw TelegramError(description: "state file \(path) is not valid JSON with an offset")
            }
            s.offset = offset
            s.handled = Set(((o["handled"] as? [NSNumber]) ?? []).map(\.int64Value).filter { $0 >= offset })
        }
        state = Mutex(s)
    }

    /// The offset to ask getUpdates for.
    public var offset: Int64 { state.withLock { $0.offset } }

    /// Whether `updateId` was handled already (below the offset or recorded above it).
    public func isHandled(_ updateId: Int64) -> Bool { state.withLock { updateId < $0.offset || $0.handled.contains(updateId) } }

    /// Records a handled update and saves. The offset advances over the ids of `batch` (the
    /// getUpdates result it came in) in order while they are handled; ids Telegram never
    /// sent are not waited for.
    public func markHandled(_ updateId: Int64, batch: [Int64]) throws {
        try state.withLock { s in
            s.handled.insert(updateId)
            // Advance over the batch's ids in order while they are handled.
            for id in batch.sorted() where id >= s.offset {
                guard s.handled.contains(id) else { break }
                s.offset = id + 1
            }
            s.handled = s.handled.filter { $0 >= s.offset }
            try save(s)
        }
    }

    /// Writes the state file (under the mutex).
    private func save(_ s: State) throws {
        guard let path else { return }
        let obj: [String: Any] = ["offset": s.offset, "handled": s.handled.sorted()]
        let data = try JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys])
        let tmp = path + ".tmp"
        guard FileManager.default.createFile(atPath: tmp, contents: data) else {
            throw TelegramError(description: "cannot write \(tmp)")
        }
        if rename(tmp, path) != 0 { throw TelegramError(description: "cannot rename \(tmp) to \(path): errno \(errno)") }
    }
}
