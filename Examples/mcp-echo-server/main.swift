// darkspere-example-agent: a small MCP server over stdio (newline-delimited JSON-RPC
// 2.0), Foundation only, no network. Its `chat` tool answers without an LLM. The
// default plugins.yaml launches it through the `mcp` transport.
import Foundation

let agent = ExampleAgent()
while let line = readLine(strippingNewline: true) {
    if line.isEmpty { continue }
    for answer in agent.handle(line: line) {
        FileHandle.standardOutput.write(Data((answer + "\n").utf8))
    }
}
