import CairnCore
import Foundation
import Testing

@testable import CairnStore

/// IAM's keys, policies and attachments on both engines: tenancy, conflicts, limits, paging,
/// deactivation and deletion, and the documents a key's requests are checked against.
@Suite struct IAMServiceTests {
    let tenant = TenantID(rawValue: "acme")
    let other = TenantID(rawValue: "other")

    static let editor = """
        {"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*",\
        "Resource":["arn:aws:s3:::b1","arn:aws:s3:::b1/*"]}]}
        """

    /// The store and the service over it; tests reach the service through this, so the store
    /// (and a Postgres pool) lives as long as the test uses it.
    final class Fixture: Sendable {
        let t: TestStore
        let iam: IAMService

        init(_ engine: StoreEngine, limits: IAMService.Limits = .init()) async throws {
            t = try await TestStore(engine)
            iam = IAMService(store: t.store, clock: ManualClock(), limits: limits)
        }
    }

    func code(_ body: () async throws -> Void) async -> String? {
        do {
            try await body()
            return nil
        } catch let error as IAMError {
            return error.code
        } catch {
            return "\(error)"
        }
    }

    @Test(arguments: StoreEngine.available) func keysAreCreatedListedDeactivatedAndDeleted(engine: StoreEngine)
        async throws
    {
        let f = try await Fixture(engine)
        let key = try await f.iam.createAccessKey(tenant: tenant)
        #expect(IAMService.isValidAccessKeyId(key.accessKeyId))
        #expect(key.scopes == [.read, .write])
        #expect(key.secret.count == 40)
        let stored = try #require(try await f.t.store.s3Key(accessKeyId: key.accessKeyId))
        #expect(stored.isUsable && stored.tenant == tenant)

        try await f.iam.updateAccessKey(tenant: tenant, accessKeyId: key.accessKeyId, active: false)
        #expect(try await f.t.store.s3Key(accessKeyId: key.accessKeyId)?.isUsable == false)
        #expect(
            try await f.iam.listAccessKeys(tenant: tenant, userName: nil, marker: nil, maxItems: 10).keys[0].inactive)
        try await f.iam.updateAccessKey(tenant: tenant, accessKeyId: key.accessKeyId, active: true)
        #expect(try await f.t.store.s3Key(accessKeyId: key.accessKeyId)?.isUsable == true)

        // Another tenant sees nothing of it.
        #expect(try await f.iam.listAccessKeys(tenant: other, userName: nil, marker: nil, maxItems: 10).keys.isEmpty)
        #expect(
            await code { try await f.iam.updateAccessKey(tenant: other, accessKeyId: key.accessKeyId, active: false) }
                == "NoSuchEntity")
        #expect(
            await code { try await f.iam.deleteAccessKey(tenant: other, accessKeyId: key.accessKeyId) }
                == "NoSuchEntity")

        try await f.iam.deleteAccessKey(tenant: tenant, accessKeyId: key.accessKeyId)
        #expect(try await f.t.store.s3Key(accessKeyId: key.accessKeyId)?.isUsable == false)
        #expect(try await f.iam.listAccessKeys(tenant: tenant, userName: nil, marker: nil, maxItems: 10).keys.isEmpty)
        #expect(
            await code { try await f.iam.deleteAccessKey(tenant: tenant, accessKeyId: key.accessKeyId) }
                == "NoSuchEntity"
        )
        #expect(
            await code { try await f.iam.deleteAccessKey(tenant: tenant, accessKeyId: "short") } == "ValidationError")
    }

    @Test(arguments: StoreEngine.available) func keyListingsPage(engine: StoreEngine) async throws {
        let f = try await Fixture(engine)
        var ids: [String] = []
        for _ in 0..<5 { ids.append(try await f.iam.createAccessKey(tenant: tenant).accessKeyId) }
        ids.sort()
        let first = try await f.iam.listAccessKeys(tenant: tenant, userName: nil, marker: nil, maxItems: 3)
        #expect(first.keys.map(\.accessKeyId) == Array(ids[0..<3]) && first.truncated)
        let rest = try await f.iam.listAccessKeys(tenant: tenant, userName: nil, marker: ids[2], maxItems: 3)
        #expect(rest.keys.map(\.accessKeyId) == Array(ids[3...]) && !rest.truncated)
        let one = try await f.iam.listAccessKeys(tenant: tenant, userName: ids[4], marker: nil, maxItems: 3)
        #expect(one.keys.map(\.accessKeyId) == [ids[4]])
    }

    @Test(arguments: StoreEngine.available) func policiesAttachDetachAndRefuseConflicts(engine: StoreEngine)
        async throws
    {
        let f = try await Fixture(engine)
        let key = try await f.iam.createAccessKey(tenant: tenant)
        let policy = try await f.iam.createPolicy(
            tenant: tenant, name: "b1-key-policy", document: Self.editor, description: nil)
        #expect(policy.arn == "arn:aws:iam::acme:policy/b1-key-policy")
        #expect(policy.id.hasPrefix("ANPA") && policy.id.count == 21)
        #expect(
            await code {
                _ = try await f.iam.createPolicy(
                    tenant: tenant, name: "b1-key-policy", document: Self.editor, description: nil)
            } == "EntityAlreadyExists")
        // The same name in another tenant is another policy.
        _ = try await f.iam.createPolicy(tenant: other, name: "b1-key-policy", document: Self.editor, description: nil)
        #expect(
            await code { _ = try await f.iam.createPolicy(tenant: tenant, name: "p", document: "{}", description: nil) }
                == "MalformedPolicyDocument")
        #expect(
            await code {
                _ = try await f.iam.createPolicy(tenant: tenant, name: "a/b", document: Self.editor, description: nil)
            }
                == "ValidationError")

        try await f.iam.attachPolicy(tenant: tenant, userName: key.accessKeyId, arn: policy.arn)
        try await f.iam.attachPolicy(tenant: tenant, userName: key.accessKeyId, arn: policy.arn)
        #expect(try await f.iam.policy(tenant: tenant, arn: policy.arn).attachmentCount == 1)
        #expect(try await f.t.store.s3Key(accessKeyId: key.accessKeyId)?.hasPolicies == true)
        let attached = try await f.iam.attachedPolicies(
            tenant: tenant, userName: key.accessKeyId, marker: nil, maxItems: 10)
        #expect(attached.policies.map(\.name) == ["b1-key-policy"])
        let documents = try await f.iam.policyDocuments(for: key)
        #expect(documents == [try IAMPolicyDocument.parse(Self.editor)])
        #expect(
            try await f.iam.listPolicies(tenant: tenant, marker: nil, onlyAttached: true, maxItems: 10).policies.count
                == 1)

        #expect(await code { try await f.iam.deletePolicy(tenant: tenant, arn: policy.arn) } == "DeleteConflict")
        // Another tenant's ARN names nothing here.
        let foreign = "arn:aws:iam::other:policy/b1-key-policy"
        #expect(
            await code { try await f.iam.attachPolicy(tenant: tenant, userName: key.accessKeyId, arn: foreign) }
                == "NoSuchEntity")
        #expect(await code { _ = try await f.iam.policy(tenant: tenant, arn: "arn:aws:s3:::b1") } == "ValidationError")
        #expect(
            await code {
                try await f.iam.attachPolicy(
                    tenant: tenant, userName: key.accessKeyId, arn: "arn:aws:iam::acme:policy/missing")
            } == "NoSuchEntity")

        try await f.iam.detachPolicy(tenant: tenant, userName: key.accessKeyId, arn: policy.arn)
        #expect(
            await code { try await f.iam.detachPolicy(tenant: tenant, userName: key.accessKeyId, arn: policy.arn) }
                == "NoSuchEntity")
        #expect(try await f.iam.policyDocuments(for: key).isEmpty)
        #expect(try await f.t.store.s3Key(accessKeyId: key.accessKeyId)?.hasPolicies == false)
        try await f.iam.deletePolicy(tenant: tenant, arn: policy.arn)
        #expect(await code { _ = try await f.iam.policy(tenant: tenant, arn: policy.arn) } == "NoSuchEntity")
        #expect(
            try await f.iam.policy(tenant: other, arn: "arn:aws:iam::other:policy/b1-key-policy").name
                == "b1-key-policy")
    }

    @Test(arguments: StoreEngine.available) func deletingAKeyDropsItsAttachments(engine: StoreEngine) async throws {
        let f = try await Fixture(engine)
        let key = try await f.iam.createAccessKey(tenant: tenant)
        let policy = try await f.iam.createPolicy(tenant: tenant, name: "p", document: Self.editor, description: "d")
        try await f.iam.attachPolicy(tenant: tenant, userName: key.accessKeyId, arn: policy.arn)
        try await f.iam.deleteAccessKey(tenant: tenant, accessKeyId: key.accessKeyId)
        #expect(try await f.iam.policy(tenant: tenant, arn: policy.arn).attachmentCount == 0)
        try await f.iam.deletePolicy(tenant: tenant, arn: policy.arn)
    }

    @Test(arguments: StoreEngine.available) func limitsAreEnforced(engine: StoreEngine) async throws {
        var limits = IAMService.Limits()
        limits.maxPoliciesPerTenant = 3
        limits.maxPoliciesPerKey = 2
        limits.maxKeysPerTenant = 2
        let f = try await Fixture(engine, limits: limits)
        let key = try await f.iam.createAccessKey(tenant: tenant)
        _ = try await f.iam.createAccessKey(tenant: tenant)
        #expect(await code { _ = try await f.iam.createAccessKey(tenant: tenant) } == "LimitExceeded")
        _ = try await f.iam.createAccessKey(tenant: other)
        var arns: [String] = []
        for name in ["p1", "p2", "p3"] {
            arns.append(
                try await f.iam.createPolicy(tenant: tenant, name: name, document: Self.editor, description: nil).arn)
        }
        #expect(
            await code {
                _ = try await f.iam.createPolicy(tenant: tenant, name: "p4", document: Self.editor, description: nil)
            }
                == "LimitExceeded")
        try await f.iam.attachPolicy(tenant: tenant, userName: key.accessKeyId, arn: arns[0])
        try await f.iam.attachPolicy(tenant: tenant, userName: key.accessKeyId, arn: arns[1])
        #expect(
            await code { try await f.iam.attachPolicy(tenant: tenant, userName: key.accessKeyId, arn: arns[2]) }
                == "LimitExceeded")
        let page = try await f.iam.listPolicies(tenant: tenant, marker: nil, onlyAttached: false, maxItems: 2)
        #expect(page.policies.map(\.name) == ["p1", "p2"] && page.truncated)
        let rest = try await f.iam.listPolicies(tenant: tenant, marker: "p2", onlyAttached: false, maxItems: 2)
        #expect(rest.policies.map(\.name) == ["p3"] && !rest.truncated)
    }

    /// Concurrent creates must not together pass a limit (on Postgres they run in parallel).
    @Test(arguments: StoreEngine.available) func concurrentCreatesStopAtTheLimit(engine: StoreEngine) async throws {
        var limits = IAMService.Limits()
        limits.maxKeysPerTenant = 5
        limits.maxPoliciesPerTenant = 5
        limits.maxPoliciesPerKey = 3
        let f = try await Fixture(engine, limits: limits)
        let iam = f.iam
        let tenant = self.tenant
        let keys = await withTaskGroup(of: S3Key?.self) { group in
            for _ in 0..<16 { group.addTask { try? await iam.createAccessKey(tenant: tenant) } }
            return await group.reduce(into: [S3Key]()) { if let key = $1 { $0.append(key) } }
        }
        #expect(keys.count == 5)
        let policies = await withTaskGroup(of: IAMPolicy?.self) { group in
            for index in 0..<16 {
                group.addTask {
                    try? await iam.createPolicy(
                        tenant: tenant, name: "c\(index)", document: Self.editor, description: nil)
                }
            }
            return await group.reduce(into: [IAMPolicy]()) { if let policy = $1 { $0.append(policy) } }
        }
        #expect(policies.count == 5)
        let user = keys[0].accessKeyId
        await withTaskGroup(of: Void.self) { group in
            for policy in policies {
                group.addTask { try? await iam.attachPolicy(tenant: tenant, userName: user, arn: policy.arn) }
            }
        }
        let attached = try await iam.attachedPolicies(tenant: tenant, userName: user, marker: nil, maxItems: 100)
        #expect(attached.policies.count == 3)
    }
}
