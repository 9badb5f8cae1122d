import RedisKit
import Testing

struct RedisCommandBufferTests {
    private func text(_ buffer: RedisCommandBuffer) -> String { String(decoding: buffer.bytes, as: UTF8.self) }

    @Test func stringsEncodeAsBulkStrings() {
        let buffer = RedisCommandBuffer([["SET", "k", "café"], ["GET", ""]])
        #expect(buffer.count == 2)
        #expect(text(buffer) == "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\ncafé\r\n*2\r\n$3\r\nGET\r\n$0\r\n\r\n")
    }

    @Test func integersEncodeInDecimal() {
        for (value, expected) in [(Int64(0), "0"), (7, "7"), (-42, "-42"), (Int64.max, "\(Int64.max)"),
                                  (Int64.min, "\(Int64.min)")] {
            var buffer = RedisCommandBuffer()
            buffer.appendHeader(1)
            buffer.appendArgument(value)
            #expect(text(buffer) == "*1\r\n$\(expected.utf8.count)\r\n\(expected)\r\n", "value \(value)")
        }
    }

    @Test func bytesEncodeUnchanged() {
        var buffer = RedisCommandBuffer()
        buffer.append([[0, 13, 10, 255]])
        #expect(buffer.bytes == Array("*1\r\n$4\r\n".utf8) + [0, 13, 10, 255] + [13, 10])
    }
}
