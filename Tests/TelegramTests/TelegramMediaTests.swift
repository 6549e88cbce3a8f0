import Foundation
import Host
import TelegramCore
import Testing

/// Photos out (issue 17 item 3): a message with attachments goes out as sendPhoto /
/// sendDocument by URL, the text as the first photo's caption when it fits.
@Suite(.serialized) struct TelegramMediaTests {
    @Test func replyCallsCaptionPhotosAndDocuments() {
        let photo = ("https://cdn.example.com/map.png", "image/png"), pdf = ("https://cdn.example.com/a.pdf", "application/pdf")
        var calls = TelegramBotAPI.replyCalls(chat: 7, text: "here", media: [photo, pdf])
        #expect(calls.map(\.method) == ["sendPhoto", "sendDocument"])
        #expect(calls[0].params["photo"] as? String == photo.0 && calls[0].params["caption"] as? String == "here")
        #expect(calls[1].params["document"] as? String == pdf.0 && calls[1].params["caption"] == nil)
        // Too long for a caption: the text goes first as messages.
        let long = String(repeating: "a", count: 1100)
        calls = TelegramBotAPI.replyCalls(chat: 7, text: long, media: [photo])
        #expect(calls.map(\.method) == ["sendMessage", "sendPhoto"] && calls[1].params["caption"] == nil)
        #expect(TelegramBotAPI.replyCalls(chat: 7, text: "just text", media: []).map(\.method) == ["sendMessage"])
        #expect(TelegramBotAPI.replyCalls(chat: 7, text: "", media: [("https://x.example/y", "")]).map(\.method) == ["sendPhoto"])
    }

    /// End to end: a proactive message with a picture (admin API) reaches the fake Bot API
    /// as sendPhoto from the outbox, through the ABI's ds_outbound_message media.
    @Test func proactiveMessageWithAPictureIsSentAsAPhoto() async throws {
        let fake = try TG.FakeBotAPI()
        defer { fake.stop() }
        let token = "op-token-0123456789abcdef"
        let yaml = TG.gatewayYAML(api: fake.base) + """

        admin:
          listen: 127.0.0.1:0
          tokens:
            - { name: olivia, token: "\(token)", role: operator }
        """
        try await TG.withGateway(yaml) { g, _ in
            let port = try #require(g.adminPort)
            let body = #"{"channel":"telegram","to":"telegram:555","from":"telegram:123456789","text":"Here is the map","media":[{"url":"https://cdn.example.com/map.png","content_type":"image/png"}]}"#
            let r = try await TG.post(url: "http://127.0.0.1:\(port)/api/v1/messages", body: Data(body.utf8),
                                      headers: ["Authorization": "Bearer \(token)", "Content-Type": "application/json"])
            #expect(r.status == 202, "\(r.text)")
            var photos: [[String: Any]] = []
            for _ in 0..<200 {
                photos = try await fake.requests("sendPhoto").map { $0["params"] as! [String: Any] }
                if !photos.isEmpty { break }
                try await Task.sleep(nanoseconds: 50_000_000)
            }
            let p = try #require(photos.first, "no sendPhoto reached the Bot API")
            #expect((p["chat_id"] as? NSNumber)?.int64Value == 555)
            #expect(p["photo"] as? String == "https://cdn.example.com/map.png")
            #expect(p["caption"] as? String == "Here is the map")
            #expect(try await fake.sent(to: 555).isEmpty)   // the text went as the caption
        }
    }
}
