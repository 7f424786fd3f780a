import Testing

@testable import CairnCore
@testable import CairnStore

/// API keys on both engines. A server's Postgres store answers verified keys from memory while
/// its listener hears revocations, and a revocation made anywhere reaches it; SQLite reads the
/// key on every request. Nothing that failed to authenticate is remembered.
@Suite struct KeyServiceTests {
    @Test(.timeLimit(.minutes(5)), arguments: StoreEngine.available)
    func aRevocationMadeAnywhereIsHeard(engine: StoreEngine) async throws {
        let clock = ManualClock()
        let t = try await TestStore(engine, clock: clock)
        let keys = KeyService(store: t.store, clock: clock)
        // `cairn keys revoke`, or another replica: the same database, a store of its own.
        let elsewhere = KeyService(store: try await t.reopen(), clock: clock)

        let (first, firstSecret) = try await keys.create(tenant: "acme", name: nil, scopes: [.write])
        let principal = try #require(try await keys.authenticate(secret: firstSecret))
        #expect(
            principal == Principal(tenant: TenantID(rawValue: "acme"), scopes: [.write], isRoot: false, keyId: first.id)
        )
        #expect(t.store.verifiedKeys?.count == (engine == .postgres ? 1 : nil))
        if let verified = t.store.verifiedKeys {
            // Postgres: wait until the other store's notice is heard (the clock stands still, so
            // only that, or the listener dropping everything, ends the memory of the key).
            let (heard, hear) = AsyncStream<String?>.makeStream()
            verified.observeForgets { hear.yield($0) }
            try await elsewhere.revoke(id: first.id, tenant: nil)
            for await id in heard where id == first.id || id == nil { break }
        } else {
            try await elsewhere.revoke(id: first.id, tenant: nil)
        }
        #expect(try await keys.authenticate(secret: firstSecret) == nil)

        // Revoked through the service that verified it: refused at once.
        let (second, secondSecret) = try await keys.create(tenant: "acme", name: nil, scopes: [.read])
        #expect(try await keys.authenticate(secret: secondSecret) != nil)
        try await keys.revoke(id: second.id, tenant: nil)
        #expect(try await keys.authenticate(secret: secondSecret) == nil)

        // A refusal is not remembered: a key stored after it works at once.
        let secret = "cairn_" + Identifier.randomHex() + Identifier.randomHex()
        let later = APIKey(
            id: Identifier.make("key_"), tenant: TenantID(rawValue: "acme"), name: nil,
            prefix: String(secret.prefix(14)),
            secretHash: KeyService.hash(secret: secret), scopes: [.read], createdAt: clock.now(), revokedAt: nil)
        #expect(try await keys.authenticate(secret: secret) == nil)
        try await t.store.insertKey(later)
        #expect(try await keys.authenticate(secret: secret)?.keyId == later.id)
    }

    /// What bounds the memory if a notice were ever missed: a key is trusted for
    /// `VerifiedKeys.lifetime` at most, and not at all once the clock steps back.
    @Test func aRememberedKeyIsReadAgainAfterItsLifetime() async throws {
        guard StoreEngine.available.contains(.postgres) else { return }
        let clock = ManualClock()
        let t = try await TestStore(.postgres, clock: clock)
        let keys = KeyService(store: t.store, clock: clock)
        for stepBack in [false, true] {
            let (key, secret) = try await keys.create(tenant: "acme", name: nil, scopes: [.read])
            #expect(try await keys.authenticate(secret: secret) != nil)
            // Revoked without a notice, as if it had been lost.
            _ = try await t.store.write { tx in try await tx.revokeKey(id: key.id, tenant: nil, at: clock.now()) }
            if stepBack {
                clock.advance(milliseconds: -5_000)
            } else {
                clock.advance(milliseconds: VerifiedKeys.lifetime - 1)
                #expect(try await keys.authenticate(secret: secret) != nil)
                clock.advance(milliseconds: 1)
            }
            #expect(try await keys.authenticate(secret: secret) == nil)
        }
    }

    @Test func keysAreRememberedOnlyWhileRevocationsAreHeard() {
        let verified = VerifiedKeys()
        let now = Timestamp(milliseconds: 1_000_000)
        let principal = Principal(tenant: .default, scopes: [.read], isRoot: false, keyId: "k")
        verified.remember(
            principal, secretHash: "h", at: now, ifStill: verified.lookup(secretHash: "h", now: now).generation)
        #expect(verified.count == 0)
        verified.setListening(true)
        verified.remember(
            principal, secretHash: "h", at: now, ifStill: verified.lookup(secretHash: "h", now: now).generation)
        #expect(verified.lookup(secretHash: "h", now: now).principal == principal)
        verified.setListening(false)
        #expect(verified.count == 0)
        // A lookup that started before a revocation was heard is not remembered.
        verified.setListening(true)
        let before = verified.lookup(secretHash: "h", now: now).generation
        verified.forget(keyId: "other")
        verified.remember(principal, secretHash: "h", at: now, ifStill: before)
        #expect(verified.count == 0)
    }

    @Test func theMemoryOfVerifiedKeysIsBounded() {
        let verified = VerifiedKeys()
        verified.setListening(true)
        let start = Timestamp(milliseconds: 1_000_000)
        for i in 0..<VerifiedKeys.limit {
            verified.remember(
                Principal(tenant: .default, scopes: [.read], isRoot: false, keyId: "k\(i)"), secretHash: "h\(i)",
                at: start, ifStill: verified.lookup(secretHash: "h\(i)", now: start).generation)
        }
        #expect(verified.count == VerifiedKeys.limit)
        // Full and none expired: all go, the new one stays.
        let next = Principal(tenant: .default, scopes: [.read], isRoot: false, keyId: "new")
        verified.remember(
            next, secretHash: "new", at: start, ifStill: verified.lookup(secretHash: "new", now: start).generation)
        #expect(verified.count == 1 && verified.lookup(secretHash: "new", now: start).principal == next)
    }
}
