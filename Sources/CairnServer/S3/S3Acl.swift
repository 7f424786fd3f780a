import CairnCore
import HTTPTypes
import Hummingbird
import NIOCore

/// `?acl` of a bucket or an object. Every bucket and object here is private to its tenant, so an
/// ACL reads as the owner's `FULL_CONTROL` and nothing else, and may be "set" only to that (the
/// `private` canned ACL, or a policy granting the owner alone); any other grant answers
/// `NotImplemented` and changes nothing.
extension S3Listener {
    func getAcl(_ bucket: String, key: String?, _ x: S3Exchange) async throws -> Response {
        try await requireAclTarget(bucket, key: key, x)
        var xml = S3XMLWriter()
        xml.element("AccessControlPolicy", xmlns: S3XML.namespace) { p in
            Self.owner(&p, x.tenant)
            p.element("AccessControlList") { list in
                list.element("Grant") { grant in
                    grant.open(
                        "Grantee",
                        attributes: [
                            "xmlns:xsi": "http://www.w3.org/2001/XMLSchema-instance", "xsi:type": "CanonicalUser",
                        ])
                    grant.element("ID", x.tenant.rawValue)
                    grant.element("DisplayName", x.tenant.rawValue)
                    grant.close("Grantee")
                    grant.element("Permission", "FULL_CONTROL")
                }
            }
        }
        return Self.xml(xml.document)
    }

    func putAcl(_ bucket: String, key: String?, _ x: S3Exchange) async throws -> Response {
        let refused = S3Error.notImplemented("Only the private ACL (the owner's FULL_CONTROL alone) is supported.")
        if let acl = x.header("x-amz-acl"), S3Text.trimmed(acl) != "private" { throw refused }
        if x.request.headers.contains(where: { $0.name.canonicalName.lowercased().hasPrefix("x-amz-grant-") }) {
            throw refused
        }
        try await requireAclTarget(bucket, key: key, x)
        if let policy = try await readXML(x) {
            guard policy.name == "AccessControlPolicy", let list = policy.child("AccessControlList") else {
                throw S3Error(
                    code: "MalformedACLError",
                    message: "The body must be an AccessControlPolicy with an AccessControlList.", status: 400)
            }
            let grants = list.children("Grant")
            let ownerOnly = grants.allSatisfy { grant in
                grant.child("Grantee")?.childText("ID").map(S3Text.trimmed) == x.tenant.rawValue
                    && grant.childText("Permission").map(S3Text.trimmed) == "FULL_CONTROL"
            }
            guard !grants.isEmpty, ownerOnly else { throw refused }
        } else if x.header("x-amz-acl") == nil {
            throw S3Error(
                code: "MissingSecurityHeader", message: "Your request was missing a required header: x-amz-acl.",
                status: 400)
        }
        return Self.empty()
    }

    /// The bucket, or the object (its `versionId` if given), an ACL request is about must exist.
    private func requireAclTarget(_ bucket: String, key: String?, _ x: S3Exchange) async throws {
        guard let key else {
            _ = try await workspaces.bucket(tenant: x.tenant, name: bucket)
            return
        }
        let versionId = x.call["versionId"]
        let (_, lookup) = try await workspaces.lookup(
            tenant: x.tenant, bucket: bucket, key: key, versionId: versionId, snapshotVersion: nil)
        switch lookup {
        case .found: return
        case .missing where versionId != nil: throw Self.noSuchVersion()
        case .deleteMarker where versionId != nil: throw Self.methodNotAllowedOnMarker()
        case .missing, .deleteMarker: throw WorkspaceService.noSuchKey
        }
    }
}
