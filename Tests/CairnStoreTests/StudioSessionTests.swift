import CairnCore
import Testing

@testable import CairnStore

/// Studio's sessions on both engines: kept hashed, ended by sign-out, by expiry and by revoking
/// their key; expired rows are removed.
@Suite struct StudioSessionTests {
    @Test(arguments: StoreEngine.available) func sessionsEndBySignOutExpiryOrTheirKey(engine: StoreEngine)
        async throws
    {
        let clock = ManualClock()
        let t = try await TestStore(engine, clock: clock)
        let keys = KeyService(store: t.store, clock: clock)
        let sessions = StudioSessionService(store: t.store, keys: keys, clock: clock)
        let (key, secret) = try await keys.create(tenant: "acme", name: nil, scopes: [.read])
        let principal = try #require(try await keys.authenticate(secret: secret))
        let never: @Sendable () async throws -> Bool = { false }

        let (made, token) = try await sessions.signIn(as: principal)
        #expect(made.tokenHash == KeyService.hash(secret: token) && !made.tokenHash.contains(token))
        let found = try #require(try await sessions.session(token: token, rootKeyConfigured: true, open: never))
        #expect(found == made && found.principal == principal && found.csrfToken.count == 32)
        #expect(try await sessions.session(token: token + "0", rootKeyConfigured: true, open: never) == nil)
        #expect(try await sessions.session(token: "garbage", rootKeyConfigured: true, open: never) == nil)

        try await sessions.signOut(tokenHash: made.tokenHash)
        #expect(try await sessions.session(token: token, rootKeyConfigured: true, open: never) == nil)

        let (_, second) = try await sessions.signIn(as: principal)
        clock.advance(milliseconds: StudioSessionService.lifetimeMilliseconds - 1)
        #expect(try await sessions.session(token: second, rootKeyConfigured: true, open: never) != nil)
        try await keys.revoke(id: key.id, tenant: nil)
        #expect(try await sessions.session(token: second, rootKeyConfigured: true, open: never) == nil)

        // Root sessions hold while the server has its root key; open ones while it is open.
        let (_, root) = try await sessions.signIn(
            as: Principal(tenant: .default, scopes: [.admin], isRoot: true, keyId: "root"))
        #expect(try await sessions.session(token: root, rootKeyConfigured: true, open: never) != nil)
        #expect(try await sessions.session(token: root, rootKeyConfigured: false, open: never) == nil)
        let (_, open) = try await sessions.signIn(as: .open)
        #expect(try await sessions.session(token: open, rootKeyConfigured: false, open: { true }) != nil)
        #expect(try await sessions.session(token: open, rootKeyConfigured: false, open: never) == nil)

        // Past the lifetime nothing holds, and the next sign-in removes the expired rows.
        clock.advance(milliseconds: StudioSessionService.lifetimeMilliseconds + 1)
        #expect(try await sessions.session(token: root, rootKeyConfigured: true, open: never) == nil)
        _ = try await sessions.signIn(as: .open)
        let remaining = try await t.store.read { tx in
            try await tx.studioSession(tokenHash: KeyService.hash(secret: root))
        }
        #expect(remaining == nil)
    }
}
