import CairnCore
import Testing

@testable import CairnServer

/// IAM's form bodies as botocore encodes them (`+` for a space, percent-escapes), and the
/// refusals of the ones that are not.
@Suite struct IAMFormTests {
    func code(_ body: String) -> String? {
        do {
            _ = try URLEncodedForm(Array(body.utf8))
            return nil
        } catch let error as IAMError {
            return error.code
        } catch {
            return "\(error)"
        }
    }

    @Test func decodesPlusAsSpaceAndPercentEscapes() throws {
        let form = try URLEncodedForm(
            Array("Action=CreatePolicy&PolicyName=p&PolicyDocument=%7B%22a%22%3A+%22b%2Bc%22%7D&Flag".utf8))
        #expect(form["Action"] == "CreatePolicy")
        #expect(form["PolicyDocument"] == #"{"a": "b+c"}"#)
        #expect(form["Flag"] == "")
        #expect(form["Missing"] == nil)
        #expect(throws: IAMError.validation("The parameter Missing is required.")) { try form.required("Missing") }
        #expect(throws: IAMError.validation("The parameter Flag is required.")) { try form.required("Flag") }
        #expect(try form.maxItems() == 100)
    }

    @Test func refusesRepeatsBadEscapesAndTooManyFields() {
        #expect(code("Action=A&Action=B") == "ValidationError")
        #expect(code("Action=%zz") == "ValidationError")
        #expect(code("Action=%FF") == "ValidationError")
        #expect(code((0...URLEncodedForm.maxFields).map { "p\($0)=1" }.joined(separator: "&")) == "ValidationError")
        #expect(code("") == nil)
    }

    @Test func maxItemsIsBounded() throws {
        for bad in ["0", "1001", "-1", "ten", "99999999999999999999"] {
            #expect(throws: IAMError.self) { try URLEncodedForm(Array("MaxItems=\(bad)".utf8)).maxItems() }
        }
        #expect(try URLEncodedForm(Array("MaxItems=1000".utf8)).maxItems() == 1000)
    }
}
