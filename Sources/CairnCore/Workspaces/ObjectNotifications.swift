/// A bucket's object notifications (Tigris' `object_notifications` setting): where change events
/// go, which ones (a `NotificationFilter`), and the credentials the receiver expects.
public struct ObjectNotificationSettings: Sendable, Equatable {
    public enum Auth: Sendable, Equatable {
        case none
        /// Sent as `Authorization: Bearer <token>`.
        case token(String)
        /// Sent as `Authorization: Basic base64(user:password)`.
        case basic(user: String, password: String)
    }

    public var enabled: Bool
    /// Where events are POSTed; nil keeps them for the event stream only (Cairn's extension).
    public var webHook: String?
    public var filter: String
    public var auth: Auth

    public init(enabled: Bool, webHook: String?, filter: String = "", auth: Auth = .none) {
        self.enabled = enabled
        self.webHook = webHook
        self.filter = filter
        self.auth = auth
    }

    static let maxURLLength = 2048
    static let maxCredentialLength = 1024

    static func invalid(_ message: String) -> S3Error { S3Error.invalidArgument(message) }

    /// Reads the `object_notifications` object of a PATCH body; nil for `{}` (clear them).
    /// Every refusal is an `InvalidArgument` naming the field.
    public static func parse(_ value: JSONValue) throws -> ObjectNotificationSettings? {
        guard let object = value.objectValue else { throw invalid("object_notifications must be an object.") }
        if object.pairs.first(where: { _ in true }) == nil { return nil }
        let known: Set<String> = ["enabled", "web_hook", "filter", "auth"]
        if let unknown = object.pairs.first(where: { !known.contains($0.0) }) {
            throw invalid("object_notifications has no field \(unknown.0).")
        }
        let enabled: Bool
        switch object["enabled"] {
        case nil: enabled = true
        case .bool(let b)?: enabled = b
        default: throw invalid("object_notifications.enabled must be true or false.")
        }
        var url: String?
        switch object["web_hook"] {
        case nil, .null?: break
        case .string(let text)?:
            let lower = text.lowercased()
            guard lower.hasPrefix("http://") || lower.hasPrefix("https://"), text.utf8.count <= maxURLLength,
                !text.unicodeScalars.contains(where: { $0.value <= 0x20 || $0.value == 0x7F })
            else {
                throw invalid(
                    "object_notifications.web_hook must be an http or https URL of at most \(maxURLLength) bytes.")
            }
            url = text
        default: throw invalid("object_notifications.web_hook must be an http or https URL.")
        }
        var filter = ""
        switch object["filter"] {
        case nil, .null?: break
        case .string(let text)?:
            do {
                _ = try NotificationFilter(text)
            } catch {
                throw invalid("object_notifications.filter is not a valid filter: \(error)")
            }
            filter = text
        default: throw invalid("object_notifications.filter must be a string.")
        }
        var auth = Auth.none
        switch object["auth"] {
        case nil, .null?: break
        case .object(let a)?:
            func credential(_ name: String) throws -> String? {
                guard let v = a[name] else { return nil }
                guard let s = v.stringValue, !s.isEmpty, s.utf8.count <= maxCredentialLength,
                    !s.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F })
                else {
                    throw invalid(
                        "object_notifications.auth.\(name) must be a non-empty string of at most "
                            + "\(maxCredentialLength) bytes without control characters.")
                }
                return s
            }
            let token = try credential("token"), user = try credential("basic_user")
            let password = try credential("basic_pass")
            if let other = a.pairs.first(where: { !["token", "basic_user", "basic_pass"].contains($0.0) }) {
                throw invalid("object_notifications.auth has no field \(other.0).")
            }
            switch (token, user, password) {
            case (nil, nil, nil): break
            case (let token?, nil, nil): auth = .token(token)
            case (nil, let user?, let password?): auth = .basic(user: user, password: password)
            default:
                throw invalid("object_notifications.auth has a token, or basic_user with basic_pass.")
            }
        default: throw invalid("object_notifications.auth must be an object.")
        }
        return ObjectNotificationSettings(enabled: enabled, webHook: url, filter: filter, auth: auth)
    }

    /// The value of the `Authorization` header deliveries carry, if any.
    public var authorizationHeader: String? {
        switch auth {
        case .none: nil
        case .token(let token): "Bearer " + token
        case .basic(let user, let password): "Basic " + Base64.encode(Array("\(user):\(password)".utf8))
        }
    }

    /// As stored with the bucket: the whole setting, credentials included.
    public var storedJSON: String {
        var w = JSONWriter()
        write(to: &w, masked: false)
        return w.string
    }

    public init?(storedJSON: String) {
        guard let value = try? JSONParser.parse(storedJSON), let settings = try? Self.parse(value) else { return nil }
        self = settings
    }

    /// The setting as an object; `masked` replaces credentials with `****` (what bucket info shows).
    public func write(to w: inout JSONWriter, masked: Bool) {
        w.beginObjectValue()
        w.field("enabled", enabled)
        if let webHook { w.field("web_hook", webHook) }
        w.field("filter", filter)
        switch auth {
        case .none: break
        case .token(let token): w.object("auth") { $0.field("token", masked ? "****" : token) }
        case .basic(let user, let password):
            w.object("auth") {
                $0.field("basic_user", user)
                $0.field("basic_pass", masked ? "****" : password)
            }
        }
        w.endObject()
    }
}

/// What happened to an object, as notifications name it.
public enum ObjectEventName: String, Sendable, CaseIterable {
    case createdPut = "OBJECT_CREATED_PUT"
    case createdCopy = "OBJECT_CREATED_COPY"
    case createdMultipart = "OBJECT_CREATED_COMPLETE_MULTIPART_UPLOAD"
    /// A rename's new key (the old key needs no event of its own: the rename names it).
    case renamed = "OBJECT_RENAMED"
    case deleted = "OBJECT_DELETED"
    /// Expired by a lifecycle rule.
    case expired = "OBJECT_EXPIRED"
}

extension WorkspaceService {
    /// The version of the notification event shape (documented in docs/compat/s3.md).
    static let eventVersion = "1.0"

    /// One event as delivered: `{eventVersion, eventSource, eventName, eventTime, bucket,
    /// object: {key, size, eTag, versionId[, sourceKey]}}`.
    static func eventJSON(
        _ name: ObjectEventName, bucket: String, key: String, version: ObjectVersion?, versionId: String?,
        sourceKey: String?, at time: Timestamp
    ) -> String {
        var w = JSONWriter()
        w.beginObject()
        w.field("eventVersion", eventVersion)
        w.field("eventSource", "cairn:s3")
        w.field("eventName", name.rawValue)
        w.field("eventTime", time.iso8601)
        w.field("bucket", bucket)
        w.object("object") { o in
            o.field("key", key)
            o.field("size", Int(version?.size ?? 0))
            let etag = version?.etag ?? ""
            o.field("eTag", etag.count >= 2 && etag.hasPrefix("\"") ? String(etag.dropFirst().dropLast()) : etag)
            o.field("versionId", versionId)
            if let sourceKey { o.field("sourceKey", sourceKey) }
        }
        w.endObject()
        return w.string
    }

    /// Records the event for delivery if the bucket's notifications want it: inside the
    /// transaction of the change, so an event exists exactly when its change committed.
    static func recordObjectEvent(
        _ tx: any RunWriteTransaction, bucket: WorkspaceBucket, name: ObjectEventName, key: String,
        version: ObjectVersion?, sourceKey: String? = nil, at now: Timestamp
    ) async throws {
        guard let text = bucket.notificationsJSON, let settings = ObjectNotificationSettings(storedJSON: text),
            settings.enabled
        else { return }
        let subject = NotificationFilter.Subject(key: key, eventType: name.rawValue, size: version?.size ?? 0)
        // Checked when it was set; a filter that no longer parses delivers nothing rather than everything.
        guard let filter = try? NotificationFilter(settings.filter), filter.matches(subject) else { return }
        let payload = eventJSON(
            name, bucket: bucket.name, key: key, version: version,
            // As the S3 responses show it: none where the bucket has never been versioned.
            versionId: bucket.versioning == .unversioned ? nil : version?.versionId, sourceKey: sourceKey, at: now)
        try await tx.appendWorkspaceEvent(bucketId: bucket.id, payload: payload, at: now)
        guard let url = settings.webHook else { return }
        try await tx.insertDelivery(
            ChannelDelivery(
                id: Identifier.make("del_"), kind: .objectNotification, runId: nil, channelId: bucket.id, gateId: nil,
                url: url, secret: settings.authorizationHeader, eventType: name.rawValue, payload: payload,
                status: "pending", attempts: 0, nextAttemptAt: now, createdAt: now))
    }
}
