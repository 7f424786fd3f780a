import Testing

@testable import CairnCore

/// Parsing lifecycle documents (every refusal a clear S3 error) and S3's expiry arithmetic.
@Suite struct LifecycleConfigurationTests {
    func parse(_ rules: String) throws -> LifecycleConfiguration {
        try LifecycleConfiguration(text: "<LifecycleConfiguration>\(rules)</LifecycleConfiguration>")
    }

    func refusal(_ rules: String) -> String? {
        do {
            _ = try parse(rules)
            return nil
        } catch let error as S3Error {
            return error.code
        } catch {
            return "\(error)"
        }
    }

    @Test func parsesTheAgentKitTTLRule() throws {
        let config = try parse(
            "<Rule><ID>workspace-ttl</ID><Status>Enabled</Status><Filter><Prefix/></Filter>"
                + "<Expiration><Days>3</Days></Expiration></Rule>")
        #expect(config.rules.count == 1)
        #expect(config.rules[0].id == "workspace-ttl")
        #expect(config.rules[0].expiration == .days(3))
        #expect(config.rules[0].filter == .init())
        #expect(config.expiresCurrentVersions && !config.expiresNoncurrentVersions && !config.abortsUploads)
    }

    @Test func parsesFiltersNoncurrentAndAbortRules() throws {
        let config = try parse(
            """
            <Rule><Status>Enabled</Status><Filter><And><Prefix>logs/</Prefix>\
            <ObjectSizeGreaterThan>10</ObjectSizeGreaterThan><ObjectSizeLessThan>100</ObjectSizeLessThan></And>\
            </Filter><NoncurrentVersionExpiration><NoncurrentDays>2</NoncurrentDays>\
            <NewerNoncurrentVersions>3</NewerNoncurrentVersions></NoncurrentVersionExpiration></Rule>\
            <Rule><Status>Disabled</Status><Prefix>tmp/</Prefix>\
            <AbortIncompleteMultipartUpload><DaysAfterInitiation>1</DaysAfterInitiation>\
            </AbortIncompleteMultipartUpload></Rule>\
            <Rule><Status>Enabled</Status><Filter/><Expiration>\
            <ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Expiration></Rule>
            """)
        let filter = config.rules[0].filter
        #expect(filter == .init(prefix: "logs/", sizeGreaterThan: 10, sizeLessThan: 100))
        #expect(filter.matches(key: "logs/a", size: 50))
        #expect(!filter.matches(key: "logs/a", size: 10) && !filter.matches(key: "logs/a", size: 100))
        #expect(!filter.matches(key: "other", size: 50))
        #expect(config.rules[0].noncurrentDays == 2 && config.rules[0].newerNoncurrentVersions == 3)
        #expect(config.rules[1].filter.prefix == "tmp/" && !config.rules[1].enabled)
        #expect(!config.abortsUploads)
        #expect(config.rules[2].expiredObjectDeleteMarker)
        #expect(config.removesExpiredDeleteMarker(key: "anything"))
    }

    /// An enabled rule: `filter` then `actions`.
    func enabled(_ filter: String = "<Filter/>", _ actions: String = "<Expiration><Days>1</Days></Expiration>")
        -> String
    {
        "<Rule><Status>Enabled</Status>\(filter)\(actions)</Rule>"
    }

    @Test func refusesWhatS3Refuses() {
        let midnight = "<Date>2026-01-01T00:00:00Z</Date>"
        #expect(refusal("") == "MalformedXML")
        #expect(
            refusal("<Rule><Status>On</Status><Filter/><Expiration><Days>1</Days></Expiration></Rule>")
                == "MalformedXML")
        #expect(refusal(enabled("")) == "MalformedXML")
        #expect(refusal(enabled("<Filter/><Prefix/>")) == "MalformedXML")
        #expect(refusal(enabled("<Filter/>", "")) == "MalformedXML")
        #expect(refusal(enabled("<Filter/>", "<Expiration><Days>0</Days></Expiration>")) == "InvalidArgument")
        #expect(refusal(enabled("<Filter/>", "<Expiration><Days>1</Days>\(midnight)</Expiration>")) == "MalformedXML")
        #expect(
            refusal(enabled("<Filter/>", "<Expiration><Date>2026-01-01T10:00:00Z</Date></Expiration>"))
                == "InvalidArgument")
        #expect(refusal(enabled("<Filter><Tag><Key>a</Key><Value>b</Value></Tag></Filter>")) == "NotImplemented")
        #expect(refusal(enabled("<Filter><Prefix>a</Prefix><Prefix>b</Prefix></Filter>")) == "MalformedXML")
        #expect(
            refusal(
                enabled(
                    "<Filter><And><ObjectSizeGreaterThan>9</ObjectSizeGreaterThan>"
                        + "<ObjectSizeLessThan>9</ObjectSizeLessThan></And></Filter>")) == "InvalidArgument")
        let named = "<Rule><ID>x</ID><Status>Enabled</Status><Filter/><Expiration><Days>1</Days></Expiration></Rule>"
        #expect(refusal(named + named) == "InvalidArgument")
        #expect(refusal(enabled("<Filter/>", "<Transition><Days>1</Days></Transition>")) == "NotImplemented")
        // A malformed transition is the client's error before it is a missing feature.
        #expect(refusal(enabled("<Filter/>", "<Transition><Date>20220927</Date></Transition>")) == "InvalidArgument")
        #expect(refusal(enabled("<Filter/>", "<Transition><Days>-1</Days></Transition>")) != "NotImplemented")
        #expect(
            refusal(
                enabled(
                    "<Filter/>",
                    "<NoncurrentVersionExpiration><NoncurrentDays>1</NoncurrentDays>"
                        + "<NewerNoncurrentVersions>101</NewerNoncurrentVersions></NoncurrentVersionExpiration>"))
                == "InvalidArgument")
        #expect(
            refusal(enabled("<Filter/>", "<Expiration><Days>99999999999999999999</Days></Expiration>"))
                == "InvalidArgument")
    }

    @Test func expiryIsTheDaysRoundedUpToTheNextMidnightUTC() {
        let midnight = Timestamp(iso8601: "2026-03-01T00:00:00Z")!
        #expect(LifecycleConfiguration.expiry(after: midnight, days: 1) == Timestamp(iso8601: "2026-03-02T00:00:00Z")!)
        let afternoon = Timestamp(iso8601: "2026-03-01T15:30:00Z")!
        #expect(LifecycleConfiguration.expiry(after: afternoon, days: 1) == Timestamp(iso8601: "2026-03-03T00:00:00Z")!)
        #expect(
            LifecycleConfiguration.expiry(after: afternoon, days: 30) == Timestamp(iso8601: "2026-04-01T00:00:00Z")!)
    }

    @Test func rulesDecideWhatExpires() throws {
        let config = try parse(
            "<Rule><Status>Enabled</Status><Filter><Prefix>tmp/</Prefix></Filter><Expiration><Days>1</Days></Expiration>"
                + "</Rule><Rule><Status>Disabled</Status><Filter/><Expiration><Days>1</Days></Expiration></Rule>")
        let created = Timestamp(iso8601: "2026-03-01T12:00:00Z")!
        let due = Timestamp(iso8601: "2026-03-03T00:00:00Z")!
        #expect(!config.expiresCurrent(key: "tmp/a", size: 1, created: created, now: due.adding(milliseconds: -1)))
        #expect(config.expiresCurrent(key: "tmp/a", size: 1, created: created, now: due))
        // The disabled rule would expire everything; it does nothing.
        #expect(
            !config.expiresCurrent(
                key: "keep/a", size: 1, created: created, now: due.adding(milliseconds: 86_400_000 * 100)))
    }
}

extension LifecycleConfigurationTests {
    /// A rule sent without an ID gets one; the rest of the document is written back as it was.
    @Test func rulesWithoutAnIDAreNamedAndTheDocumentKept() throws {
        let text = """
            <LifecycleConfiguration><Rule><Status>Enabled</Status><Filter><Prefix>a&amp;b/</Prefix></Filter>\
            <Expiration><Days>3</Days></Expiration></Rule><Rule><ID>kept</ID><Status>Disabled</Status>\
            <Prefix></Prefix><Expiration><Days>5</Days></Expiration></Rule></LifecycleConfiguration>
            """
        let root = try S3XML.parse(Array(text.utf8))
        let named = try #require(LifecycleConfiguration.namingRules(root, newID: { "given" }))
        var xml = S3XMLWriter()
        xml.element(named, xmlns: S3XML.namespace)
        let config = try LifecycleConfiguration(text: xml.document)
        #expect(config.rules.map(\.id) == ["given", "kept"])
        #expect(config.rules.map(\.filter.prefix) == ["a&b/", ""])
        #expect(config.rules.map(\.enabled) == [true, false])
        #expect(LifecycleConfiguration.namingRules(named, newID: { "again" }) == nil)
    }
}
