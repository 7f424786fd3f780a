import CairnServer
import HTTPTypes
import Hummingbird
import NIOCore
import Testing

@Suite struct BodyReaderTests {
    struct ConnectionReset: Error {}

    /// A body that delivers some bytes and then fails the way a dropped connection does.
    struct FailingBody: AsyncSequence, Sendable {
        typealias Element = ByteBuffer
        struct AsyncIterator: AsyncIteratorProtocol {
            var sent = false
            mutating func next() async throws -> ByteBuffer? {
                if sent { throw ConnectionReset() }
                sent = true
                return ByteBuffer(string: #"{"a":"#)
            }
        }
        func makeAsyncIterator() -> AsyncIterator { AsyncIterator() }
    }

    func request(_ body: RequestBody) -> Request {
        Request(
            head: HTTPRequest(method: .post, scheme: "http", authority: "localhost", path: "/runs/wf"), body: body)
    }

    @Test func interruptedBodyIsABadRequestNotTooLarge() async throws {
        var request = request(RequestBody(asyncSequence: FailingBody()))
        let error = await #expect(throws: APIError.self) {
            _ = try await BodyReader.read(&request, limit: 1024)
        }
        #expect(error?.status == .badRequest)
        #expect(error?.message.contains("interrupted") == true)
    }

    @Test func bodyOverTheLimitIsStillTooLarge() async throws {
        var request = request(RequestBody(buffer: ByteBuffer(string: String(repeating: "x", count: 2048))))
        let error = await #expect(throws: APIError.self) {
            _ = try await BodyReader.read(&request, limit: 1024)
        }
        #expect(error?.status == .contentTooLarge)
    }
}
