// Sends identify + track through the stock @segment/analytics-node client, pointed at perkflow.
// Usage: node tests/compat/segment_node.mjs <host> <writeKey> <runId>
// Every call is made twice with the same messageId, as a client retry would, to prove replays store nothing.
import { Analytics } from '@segment/analytics-node'

const [host, writeKey, runId] = process.argv.slice(2)
const analytics = new Analytics({ writeKey, host, flushAt: 20, flushInterval: 200, maxRetries: 2 })
const failures = []
analytics.on('error', (error) => failures.push(String(error?.code ?? error)))

const userId = `node-${runId}`
for (let attempt = 0; attempt < 2; attempt++) {
  analytics.identify({
    userId,
    messageId: `${runId}-identify`,
    traits: { email: `${userId}@example.com`, name: 'Node Customer', plan: 'gold' },
  })
  analytics.track({
    userId,
    messageId: `${runId}-order`,
    event: 'Order Completed',
    properties: { order_id: `ord-${runId}`, total: 42.5, currency: 'USD' },
  })
  analytics.track({ userId, messageId: `${runId}-review`, event: 'review_left', properties: { rating: 5 } })
  await analytics.flush()
}
await analytics.closeAndFlush({ timeout: 10000 })
if (failures.length) {
  console.error(`delivery failures: ${failures.join(', ')}`)
  process.exit(1)
}
console.log('sent')
