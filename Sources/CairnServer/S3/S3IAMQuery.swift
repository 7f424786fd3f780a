import CairnCore
import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// IAM's Query API on the S3 listener (`POST /`, a form body, SigV4 service `iam`), the subset
/// Tigris offers for scoped keys: access keys, managed policies, and attaching them to keys (the
/// access key id is the user name). Only admin-scoped keys may call it; everything stays in the
/// caller's tenant.
extension S3Listener {
    static let iamNamespace = "https://iam.amazonaws.com/doc/2010-05-08/"
    /// A form body: a policy document (6 KiB, up to three times that percent-encoded) and a few
    /// short parameters fit with room to spare.
    static let maxIAMFormBytes = 64 << 10

    /// Whether a request is for IAM: a `POST /` (S3 itself has none) whose credential scope names
    /// the `iam` service. Anything else is left to S3's routing (and its errors), unchanged.
    static func isIAMQuery(_ call: S3Call, request: Request) -> Bool {
        guard request.method == .post, call.bucket == nil, call.rawQuery.isEmpty else { return false }
        return request.headers[values: .authorization].contains { $0.contains("/iam/aws4_request") }
    }

    func handleIAM(_ call: S3Call, request: Request, requestId: String, iam: IAMService) async -> Response {
        do {
            return try await runIAM(call, request: request, requestId: requestId, iam: iam)
        } catch let error as IAMError {
            return iamError(error.code, error.message, status: error.status, requestId: requestId)
        } catch let error as S3Error {
            return iamError(error.code, error.message, status: error.status, requestId: requestId)
        } catch let error as StorageFullError {
            logger.error("IAM write refused: storage full", metadata: ["detail": "\(error.detail)"])
            return iamError(
                "ServiceUnavailable", "The server is out of storage space; nothing was stored.", status: 503,
                requestId: requestId, type: "Receiver")
        } catch {
            logger.error(
                "IAM request failed", metadata: ["request-id": "\(requestId)", "error": "\(String(reflecting: error))"])
            return iamError(
                "InternalFailure", "The request processing has failed because of an unknown error.", status: 500,
                requestId: requestId, type: "Receiver")
        }
    }

    func iamError(_ code: String, _ message: String, status: Int, requestId: String, type: String = "Sender")
        -> Response
    {
        var xml = S3XMLWriter()
        xml.element("ErrorResponse", xmlns: Self.iamNamespace) { x in
            x.element("Error") { e in
                e.element("Type", type)
                e.element("Code", code)
                e.element("Message", message)
            }
            x.element("RequestId", requestId)
        }
        return Self.xml(xml.document, status: HTTPResponse.Status(code: status), headers: [:])
    }

    func runIAM(_ call: S3Call, request: Request, requestId: String, iam: IAMService) async throws -> Response {
        let body = try await readIAMForm(request)
        var digest = ObjectDigest([.sha256])
        digest.update(body)
        let bodySHA256 = digest.finalize().sha256Hex ?? ""
        let key = try await authenticate(call, request: request, service: "iam", bodySHA256: bodySHA256)
        // The body must be what was signed: a declared hash that is not the body's is refused.
        switch key.auth.payload {
        case .sha256(let hex): guard hex == bodySHA256 else { throw S3Error.xAmzContentSHA256Mismatch() }
        default: throw IAMError.validation("An IAM request must sign its body's SHA-256.")
        }
        guard key.principal.allows(.admin) else {
            throw IAMError.accessDenied("Only keys with the admin scope may call IAM.")
        }
        let form = try URLEncodedForm(body)
        if let version = form["Version"], version != "2010-05-08" {
            throw IAMError.validation("Version must be 2010-05-08.")
        }
        guard let action = form["Action"] else { throw IAMError.invalidAction("The request names no Action.") }
        let tenant = key.principal.tenant
        var xml = S3XMLWriter()
        // Only the known actions below get past the switch, so only they name an element.
        xml.open(action + "Response", xmlns: Self.iamNamespace)
        switch action {
        case "CreateAccessKey":
            let created = try await iam.createAccessKey(tenant: tenant)
            xml.element("CreateAccessKeyResult") { r in
                r.element("AccessKey") { k in
                    k.element("UserName", created.accessKeyId)
                    k.element("AccessKeyId", created.accessKeyId)
                    k.element("Status", "Active")
                    k.element("SecretAccessKey", created.secret)
                    k.element("CreateDate", created.createdAt.iso8601)
                }
            }
        case "DeleteAccessKey":
            try await iam.deleteAccessKey(tenant: tenant, accessKeyId: try form.required("AccessKeyId"))
        case "UpdateAccessKey":
            let id = try form.required("AccessKeyId")
            let active: Bool
            switch try form.required("Status") {
            case "Active": active = true
            case "Inactive": active = false
            default: throw IAMError.validation("Status must be Active or Inactive.")
            }
            try await iam.updateAccessKey(tenant: tenant, accessKeyId: id, active: active)
        case "ListAccessKeys":
            let (keys, truncated) = try await iam.listAccessKeys(
                tenant: tenant, userName: form["UserName"], marker: form["Marker"], maxItems: try form.maxItems())
            xml.element("ListAccessKeysResult") { r in
                r.element("AccessKeyMetadata") { list in
                    for k in keys {
                        list.element("member") { m in
                            m.element("UserName", k.accessKeyId)
                            m.element("AccessKeyId", k.accessKeyId)
                            m.element("Status", k.inactive ? "Inactive" : "Active")
                            m.element("CreateDate", k.createdAt.iso8601)
                        }
                    }
                }
                r.element("IsTruncated", truncated)
                if truncated, let last = keys.last { r.element("Marker", last.accessKeyId) }
            }
        case "CreatePolicy":
            if let path = form["Path"], path != "/" { throw IAMError.validation("Only the path / is supported.") }
            if form.names.contains(where: { $0.hasPrefix("Tags.") }) {
                throw IAMError.validation("Policy tags are not supported.")
            }
            let policy = try await iam.createPolicy(
                tenant: tenant, name: try form.required("PolicyName"), document: try form.required("PolicyDocument"),
                description: form["Description"])
            xml.element("CreatePolicyResult") { r in Self.writePolicy(&r, policy) }
        case "GetPolicy":
            let policy = try await iam.policy(tenant: tenant, arn: try form.required("PolicyArn"))
            xml.element("GetPolicyResult") { r in Self.writePolicy(&r, policy) }
        case "DeletePolicy":
            try await iam.deletePolicy(tenant: tenant, arn: try form.required("PolicyArn"))
        case "ListPolicies":
            let scope = form["Scope"] ?? "All"
            guard ["All", "AWS", "Local"].contains(scope) else {
                throw IAMError.validation("Scope must be All, AWS or Local.")
            }
            let onlyAttached = form["OnlyAttached"] == "true"
            let maxItems = try form.maxItems()
            // There are no AWS-managed policies here, and every policy's path is `/`.
            let listsNothing = scope == "AWS" || !"/".hasPrefix(form["PathPrefix"] ?? "/")
            let (policies, truncated) =
                listsNothing
                ? ([], false)
                : try await iam.listPolicies(
                    tenant: tenant, marker: form["Marker"], onlyAttached: onlyAttached, maxItems: maxItems)
            xml.element("ListPoliciesResult") { r in
                r.element("Policies") { list in
                    for p in policies { list.element("member") { m in Self.writePolicyFields(&m, p) } }
                }
                r.element("IsTruncated", truncated)
                if truncated, let last = policies.last { r.element("Marker", last.name) }
            }
        case "AttachUserPolicy":
            try await iam.attachPolicy(
                tenant: tenant, userName: try form.required("UserName"), arn: try form.required("PolicyArn"))
        case "DetachUserPolicy":
            try await iam.detachPolicy(
                tenant: tenant, userName: try form.required("UserName"), arn: try form.required("PolicyArn"))
        case "ListAttachedUserPolicies":
            let (policies, truncated) = try await iam.attachedPolicies(
                tenant: tenant, userName: try form.required("UserName"), marker: form["Marker"],
                maxItems: try form.maxItems())
            xml.element("ListAttachedUserPoliciesResult") { r in
                r.element("AttachedPolicies") { list in
                    for p in policies {
                        list.element("member") { m in
                            m.element("PolicyName", p.name)
                            m.element("PolicyArn", p.arn)
                        }
                    }
                }
                r.element("IsTruncated", truncated)
                if truncated, let last = policies.last { r.element("Marker", last.name) }
            }
        default:
            throw IAMError.invalidAction("The action \(action.prefix(64)) is not valid for this endpoint.")
        }
        xml.element("ResponseMetadata") { m in m.element("RequestId", requestId) }
        xml.close(action + "Response")
        return Self.xml(xml.document, headers: [:])
    }

    static func writePolicy(_ x: inout S3XMLWriter, _ policy: IAMPolicy) {
        x.element("Policy") { p in writePolicyFields(&p, policy) }
    }

    static func writePolicyFields(_ p: inout S3XMLWriter, _ policy: IAMPolicy) {
        p.element("PolicyName", policy.name)
        p.element("PolicyId", policy.id)
        p.element("Arn", policy.arn)
        p.element("Path", "/")
        p.element("DefaultVersionId", "v1")
        p.element("AttachmentCount", policy.attachmentCount)
        p.element("PermissionsBoundaryUsageCount", 0)
        p.element("IsAttachable", true)
        p.element("Description", ifPresent: policy.description)
        p.element("CreateDate", policy.createdAt.iso8601)
        p.element("UpdateDate", policy.createdAt.iso8601)
    }

    /// Reads the form body whole, refusing one larger than `maxIAMFormBytes` before reading it
    /// when its length is declared, and as soon as it grows past that otherwise.
    func readIAMForm(_ request: Request) async throws -> [UInt8] {
        let limit = Self.maxIAMFormBytes
        let tooLarge = IAMError.validation("The request body is larger than \(limit) bytes.")
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > limit { throw tooLarge }
        var bytes: [UInt8] = []
        for try await buffer in request.body {
            guard bytes.count + buffer.readableBytes <= limit else { throw tooLarge }
            bytes.append(contentsOf: buffer.readableBytesView)
        }
        return bytes
    }
}

/// An `application/x-www-form-urlencoded` body: `+` is a space, then percent-decoding. Each name
/// at most once.
struct URLEncodedForm {
    private var fields: [String: String] = [:]
    static let maxFields = 100

    init(_ body: [UInt8]) throws {
        let text = String(decoding: body, as: UTF8.self)
        let items = text.split(separator: "&", omittingEmptySubsequences: true)
        guard items.count <= Self.maxFields else {
            throw IAMError.validation("The request has more than \(Self.maxFields) parameters.")
        }
        for item in items {
            let parts = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = S3Text.percentDecode(parts[0].replacing("+", with: " ")),
                let value = parts.count > 1 ? S3Text.percentDecode(parts[1].replacing("+", with: " ")) : ""
            else { throw IAMError.validation("The request body has an invalid percent-encoding or is not UTF-8.") }
            guard fields.updateValue(value, forKey: name) == nil else {
                throw IAMError.validation("The parameter \(name.prefix(64)) is repeated.")
            }
        }
    }

    var names: Dictionary<String, String>.Keys { fields.keys }

    subscript(_ name: String) -> String? { fields[name] }

    func required(_ name: String) throws(IAMError) -> String {
        guard let value = fields[name], !value.isEmpty else {
            throw .validation("The parameter \(name) is required.")
        }
        return value
    }

    /// `MaxItems`: 1–1000, 100 when absent.
    func maxItems() throws(IAMError) -> Int {
        guard let text = fields["MaxItems"] else { return 100 }
        guard let value = Int(text), (1...1000).contains(value) else {
            throw .validation("MaxItems must be an integer from 1 to 1000.")
        }
        return value
    }
}
