import CairnCore
import Hummingbird
import Logging
import NIOCore

/// A request context that knows who the request acts as (set by `AuthMiddleware`).
public protocol PrincipalContext: RequestContext {
    var principal: Principal { get set }
}

public struct CairnRequestContext: PrincipalContext {
    public var coreContext: CoreRequestContextStorage
    /// Until authentication runs, nothing is allowed.
    public var principal = Principal(tenant: .default, scopes: [], isRoot: false)

    public init(source: Source) {
        coreContext = .init(source: source)
    }
}
