/// An error an S3 listener answers with: S3's error `code` (`AccessDenied`, …), a human message
/// and the HTTP status the code deserves. An open struct, not an enum, so more codes can be added
/// as static constructors without breaking anyone's `switch`; compare by `code`.
public struct S3Error: Error, Sendable, Equatable, CustomStringConvertible {
    public var code: String
    public var message: String
    public var status: Int

    public init(code: String, message: String, status: Int) {
        self.code = code
        self.message = message
        self.status = status
    }

    public var description: String { "\(code) (\(status)): \(message)" }

    // MARK: Authentication (403)

    public static func accessDenied(_ message: String = "Access Denied") -> S3Error {
        S3Error(code: "AccessDenied", message: message, status: 403)
    }
    public static func signatureDoesNotMatch(
        _ message: String =
            "The request signature we calculated does not match the signature you provided. "
            + "Check your key and signing method."
    ) -> S3Error {
        S3Error(code: "SignatureDoesNotMatch", message: message, status: 403)
    }
    public static func invalidAccessKeyId(
        _ message: String = "The AWS Access Key Id you provided does not exist in our records."
    ) -> S3Error {
        S3Error(code: "InvalidAccessKeyId", message: message, status: 403)
    }
    public static func requestTimeTooSkewed(
        _ message: String = "The difference between the request time and the current time is too large."
    ) -> S3Error {
        S3Error(code: "RequestTimeTooSkewed", message: message, status: 403)
    }

    // MARK: Malformed requests (400)

    public static func authorizationHeaderMalformed(_ message: String) -> S3Error {
        S3Error(code: "AuthorizationHeaderMalformed", message: message, status: 400)
    }
    public static func authorizationQueryParametersError(_ message: String) -> S3Error {
        S3Error(code: "AuthorizationQueryParametersError", message: message, status: 400)
    }
    public static func missingSecurityHeader(_ message: String) -> S3Error {
        S3Error(code: "MissingSecurityHeader", message: message, status: 400)
    }
    public static func invalidRequest(_ message: String) -> S3Error {
        S3Error(code: "InvalidRequest", message: message, status: 400)
    }
    public static func invalidArgument(_ message: String) -> S3Error {
        S3Error(code: "InvalidArgument", message: message, status: 400)
    }
    public static func xAmzContentSHA256Mismatch(
        _ message: String = "The provided 'x-amz-content-sha256' header does not match what was computed."
    ) -> S3Error {
        S3Error(code: "XAmzContentSHA256Mismatch", message: message, status: 400)
    }
    public static func badDigest(
        _ message: String = "The Content-MD5 you specified did not match what we received."
    ) -> S3Error {
        S3Error(code: "BadDigest", message: message, status: 400)
    }
    public static func xAmzContentChecksumMismatch(
        _ message: String = "The provided checksum does not match what was computed."
    ) -> S3Error {
        S3Error(code: "XAmzContentChecksumMismatch", message: message, status: 400)
    }
    public static func incompleteBody(
        _ message: String = "You did not provide the number of bytes specified by the Content-Length HTTP header."
    ) -> S3Error {
        S3Error(code: "IncompleteBody", message: message, status: 400)
    }
    public static func invalidDigest(_ message: String = "The Content-MD5 you specified is not valid.") -> S3Error {
        S3Error(code: "InvalidDigest", message: message, status: 400)
    }
    public static func malformedXML(
        _ message: String =
            "The XML you provided was not well-formed or did not validate against our published schema."
    ) -> S3Error {
        S3Error(code: "MalformedXML", message: message, status: 400)
    }

    public static func malformedTrailerError(
        _ message: String = "The request contained trailing data that was not well-formed."
    ) -> S3Error {
        S3Error(code: "MalformedTrailerError", message: message, status: 400)
    }

    // MARK: Other

    public static func notImplemented(
        _ message: String = "A header you provided implies functionality that is not implemented."
    ) -> S3Error {
        S3Error(code: "NotImplemented", message: message, status: 501)
    }
}
