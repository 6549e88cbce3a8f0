import Foundation

/// A verified Stripe webhook event, reduced to what the gateway acts on.
/// Pure parsing: thread-safe, no state.
struct StripeEvent {
    let id: String
    let type: String
    /// When Stripe created the event (Unix seconds; 0 if absent): orders out-of-order deliveries.
    let created: Int64
    /// `data.object` of the event.
    let object: [String: Any]

    struct Malformed: Error, CustomStringConvertible { let description: String }

    init(json body: [UInt8]) throws(Malformed) {
        guard let any = try? JSONSerialization.jsonObject(with: Data(body)), let o = any as? [String: Any] else {
            throw Malformed(description: "body is not a JSON object")
        }
        guard let id = o["id"] as? String, !id.isEmpty else { throw Malformed(description: "event has no id") }
        guard let type = o["type"] as? String else { throw Malformed(description: "event has no type") }
        self.id = id
        self.type = type
        created = (o["created"] as? Int).map(Int64.init) ?? 0
        object = ((o["data"] as? [String: Any])?["object"] as? [String: Any]) ?? [:]
    }

    /// `object.customer`: a customer id, or an expanded customer object's id.
    var customerId: String? {
        if let s = object["customer"] as? String, !s.isEmpty { return s }
        if let c = object["customer"] as? [String: Any], let s = c["id"] as? String, !s.isEmpty { return s }
        return nil
    }

    /// The `lookup_key`s of a subscription's prices (`items.data[].price.lookup_key`), in order.
    var priceLookupKeys: [String] {
        guard let items = object["items"] as? [String: Any], let data = items["data"] as? [[String: Any]] else { return [] }
        return data.compactMap { ($0["price"] as? [String: Any])?["lookup_key"] as? String }
    }

    /// What the gateway does with an event.
    enum Action: Equatable {
        /// Move the customer's account: tier and/or status (nil = unchanged).
        case update(customer: String, tier: String?, status: String?)
        /// Nothing to change; why (for the log).
        case ignore(String)
    }

    func action(priceTiers: [String: String], canceledTier: String) -> Action {
        let handled = ["customer.subscription.created", "customer.subscription.updated", "customer.subscription.deleted",
                       "invoice.payment_failed", "invoice.paid"]
        guard handled.contains(type) else { return .ignore("event type \(type) is not handled") }
        guard let customer = customerId else { return .ignore("\(type) \(id) names no customer") }
        switch type {
        case "customer.subscription.deleted":
            return .update(customer: customer, tier: canceledTier, status: nil)
        case "invoice.payment_failed":
            return .update(customer: customer, tier: nil, status: "past_due")
        case "invoice.paid":
            return .update(customer: customer, tier: nil, status: "active")
        default:
            let keys = priceLookupKeys
            guard let tier = keys.lazy.compactMap({ priceTiers[$0] }).first else {
                return .ignore("\(type) \(id): no price lookup_key (\(keys.isEmpty ? "none" : keys.joined(separator: ", "))) is in price_tiers")
            }
            return .update(customer: customer, tier: tier, status: nil)
        }
    }
}
