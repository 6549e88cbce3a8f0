import Foundation
@testable import Host
import PluginAPI
import Testing

/// ABI 1.1's `account_update` straight through the host's table, and the
/// `accounts:`/`tiers:` configuration behind it.
@Suite struct AccountServiceTests {
    func call(_ runtime: HostRuntime, _ customer: String, _ tier: String, _ status: String) -> ds_status {
        let h = runtime.makeHandle("billing-test")
        return withDSStr(customer) { c in withDSStr(tier) { t in withDSStr(status) { s in
            runtime.table.pointee.account_update(h.pointer, c, t, s)
        } } }
    }

    @Test func tableGrewAtTheEndIn11() {
        let table = HostRuntime(logLevel: .error).table
        #expect(table.pointee.abi_major == 1 && table.pointee.abi_minor >= 1)
        let offset = MemoryLayout<ds_host>.offset(of: \ds_host.account_update)!
        #expect(Int(table.pointee.struct_size) >= offset + MemoryLayout<UnsafeRawPointer>.size)
        // Every 1.0 field comes before it: report_status was the last one of 1.0.
        #expect(MemoryLayout<ds_host>.offset(of: \ds_host.report_status)! < offset)
        #expect(table.pointee.account_update != nil)
    }

    @Test func updatesThroughTheTable() throws {
        let runtime = HostRuntime(logLevel: .error)
        #expect(call(runtime, "cus_acme", "pro", "") == DS_ERR_UNSUPPORTED, "no directory: unsupported")
        let config = try ConfigLoader(environment: [:]).load(yaml: """
        accounts:
          - {id: acme, name: Acme, stripe_customer_id: cus_acme}
          - {id: initech, name: Initech, tier: enterprise, status: past_due}
        """)
        let dir = ConfiguredAccounts(config: config)
        runtime.accounts = dir
        #expect(call(runtime, "cus_acme", "pro", "") == DS_OK)
        #expect(dir.account("acme")?.tier == "pro" && dir.account("acme")?.status == .active)
        #expect(call(runtime, "cus_acme", "", "past_due") == DS_OK)
        #expect(dir.account("acme")?.tier == "pro" && dir.account("acme")?.status == .pastDue)
        #expect(call(runtime, "cus_acme", "", "") == DS_OK, "nothing to change is fine")
        #expect(call(runtime, "cus_nobody", "pro", "") == DS_ERR_NOT_FOUND)
        #expect(call(runtime, "cus_acme", "platinum", "") == DS_ERR_INVALID)
        #expect(call(runtime, "cus_acme", "", "frozen") == DS_ERR_INVALID)
        #expect(call(runtime, "", "pro", "") == DS_ERR_INVALID)
        #expect(dir.account("acme")?.tier == "pro", "an invalid call changed nothing")
        #expect(dir.account("initech")?.status == .pastDue)
        runtime.shutdown()
    }

    @Test func concurrentUpdatesAreSafe() async throws {
        let dir = ConfiguredAccounts(accounts: (0..<50).map { AccountEntry(id: "a\($0)", name: "A\($0)", stripeCustomerId: "cus_\($0)") },
                                     tiers: TierConfig.defaults)
        await withTaskGroup(of: Void.self) { group in
            for i in 0..<2_000 {
                group.addTask { _ = dir.update(customerId: "cus_\(i % 50)", tier: i % 2 == 0 ? "pro" : "enterprise", status: nil) }
            }
        }
        #expect(dir.all.count == 50)
        #expect(dir.all.allSatisfy { $0.tier == ($0.id.dropFirst().count > 0 && Int($0.id.dropFirst())! % 2 == 0 ? "pro" : "enterprise") })
    }

    @Test func tierDefaultsAndOverrides() throws {
        let c = try ConfigLoader(environment: [:]).load(yaml: """
        tiers:
          free:
            sms_inbound: 20
          pro:
            agent_messages: unlimited
            overage: allow
          team:
            sms_inbound: 1000
            sms_outbound_segments: ~
            agent_messages: 3_000
            per_minute: null
        accounts:
          - id: t1
            tier: team
        agents: []
        """)
        #expect(c.tiers["free"]?.limit(.smsInbound) == 20)
        #expect(c.tiers["free"]?.limit(.smsOutboundSegments) == 50)
        #expect(c.tiers["free"]?.perMinute == 10)
        #expect(c.tiers["pro"]?.limit(.agentMessages) == nil)
        #expect(c.tiers["pro"]?.limit(.smsInbound) == 5_000)
        #expect(c.tiers["pro"]?.overage == .allow)
        #expect(c.tiers["enterprise"]?.limit(.smsInbound) == nil && c.tiers["enterprise"]?.perMinute == 1_000)
        #expect(c.tiers["team"]?.limit(.agentMessages) == 3_000 && c.tiers["team"]?.limit(.smsOutboundSegments) == nil)
        #expect(c.tiers["team"]?.perMinute == nil)
        #expect(c.accounts.first?.tier == "team" && c.accounts.first?.name == "t1")
    }

    @Test func badAccountsAndTiersAreClearErrors() throws {
        let yaml = """
        tiers:
          free:
            sms_inbnd: 5
            per_minute: -1
          team:
            sms_inbound: 10
        accounts:
          - id: acme
            stripe_customer_id: cus_1
            tier: gold
            status: frozen
            colour: red
          - id: acme
            stripe_customer_id: cus_1
        plugins:
          - id: e
            library: c-echo-agent
        agents:
          - name: a
            transport: e
            account: nobody
        """
        do {
            _ = try ConfigLoader(environment: [:]).load(yaml: yaml)
            Issue.record("accepted")
        } catch let e as ConfigErrors {
            let text = e.problems.map(\.description)
            func has(_ s: String) -> Bool { text.contains { $0.contains(s) } }
            #expect(has("line 3: tiers.free.sms_inbnd: unknown key (did you mean 'sms_inbound'?)"), "\(text)")
            #expect(has("tiers.free.per_minute: expected a non-negative integer"), "\(text)")
            #expect(has("tiers.team: a new tier must set sms_outbound_segments, agent_messages, per_minute"), "\(text)")
            #expect(has("accounts.acme.tier: unknown tier 'gold'"), "\(text)")
            #expect(has("accounts[0].status: expected one of active, past_due, canceled, got 'frozen'"), "\(text)")
            #expect(has("accounts[0].colour: unknown key"), "\(text)")
            #expect(has("duplicate account id 'acme'"), "\(text)")
            #expect(has("customer id already used by account 'acme'"), "\(text)")
            #expect(has("agents[0].account: no account with id 'nobody'"), "\(text)")
        }
    }
}
