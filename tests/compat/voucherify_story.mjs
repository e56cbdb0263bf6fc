// The promotion story of DESIGN §1 driven by the stock Voucherify SDK (@voucherify/sdk 2.9.0, the v2 API) against
// perkflow: customer, review_left event, "Reviewers" segment, validation rule, $25 join-once gift card campaign, a
// distribution (perkflow's own endpoint, plain HTTP), the code the distribution published (fetched, not assumed),
// validation for a non-reviewer and for Michael, redemption, a refused second redemption, rollback, balance top-up,
// error shapes.
//
// Usage: node tests/compat/voucherify_story.mjs <apiUrl> <appId> <secretKey> <runId> setup <real|external> [segmentId]
//        node tests/compat/voucherify_story.mjs <apiUrl> <appId> <secretKey> <runId> checkout '<state json>'
// "setup real" creates the segment with segments.create and tracks review_left (perkflow computes the segment in
// real time); "setup external" takes the segment id from the caller, which put Michael in it and announces his
// entry itself, so it tracks no review. Both print the state JSON on the last line; "checkout" prints the
// results JSON. Any broken expectation exits 1 with the reason on stderr.
import sdk from '@voucherify/sdk'

const { VoucherifyServerSide } = sdk
const [apiUrl, applicationId, secretKey, runId, phase, ...rest] = process.argv.slice(2)
const client = VoucherifyServerSide({ applicationId, secretKey, apiUrl })
const michael = `michael.scott-${runId}`
const holly = `holly.flax-${runId}`
const campaignName = `Review gift card ${runId}`

function check(condition, what, detail) {
  if (!condition) {
    throw new Error(`${what}${detail === undefined ? '' : `: ${JSON.stringify(detail)}`}`)
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

async function eventually(probe, what, timeoutMs = 45000) {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const found = await probe()
    if (found) return found
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(250)
  }
}

// perkflow's own endpoints (Voucherify configures distributions in its dashboard): plain HTTP, same credentials.
async function perkflow(method, path, body) {
  const response = await fetch(`${apiUrl}${path}`, {
    method,
    headers: { 'X-App-Id': applicationId, 'X-App-Token': secretKey, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  const text = await response.text()
  return { status: response.status, body: text ? JSON.parse(text) : null }
}

async function expectError(call, code, key, what) {
  try {
    await call()
  } catch (error) {
    check(error.code === code && error.key === key, `${what} answers ${code} ${key}`, {
      code: error.code,
      key: error.key,
      message: error.message,
    })
    check(typeof error.request_id === 'string' && typeof error.message === 'string', `${what} has the error shape`)
    return error
  }
  throw new Error(`${what} was expected to fail with ${key}`)
}

async function setup(mode, givenSegmentId) {
  const customer = await client.customers.create({
    source_id: michael,
    name: 'Michael Scott',
    email: 'michael@dundermifflin.com',
    metadata: { branch: 'Scranton' },
  })
  check(customer.id.startsWith('cust_') && customer.source_id === michael, 'customers.create', customer)
  await client.customers.create({ source_id: holly, name: 'Holly Flax' })

  let segmentId = givenSegmentId
  if (mode === 'real') {
    const segment = await client.segments.create({
      name: `Reviewers ${runId}`,
      type: 'auto-update',
      filter: { junction: 'and', 'events.review_left.count': { conditions: { $more_than: [0] } } },
    })
    check(segment.id.startsWith('seg_') && segment.object === 'segment', 'segments.create', segment)
    segmentId = segment.id
  }

  const rule = await client.validationRules.create({
    name: `Reviewers only ${runId}`,
    rules: { 1: { name: 'customer.segment', conditions: { $is: [segmentId] }, rules: {} }, logic: '1' },
    error: { message: 'Reviewers only' },
  })
  check(rule.id.startsWith('val_'), 'validationRules.create', rule)

  const created = await client.campaigns.create({
    name: campaignName,
    campaign_type: 'GIFT_VOUCHERS',
    type: 'AUTO_UPDATE',
    join_once: true,
    vouchers_count: 100,
    voucher: {
      type: 'GIFT_VOUCHER',
      gift: { amount: 2500, effect: 'APPLY_TO_ORDER' },
      redemption: { quantity: null },
      code_config: { pattern: 'GIFT-####-####', charset: 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789' },
    },
    validation_rules: [rule.id],
  })
  const campaign = await eventually(async () => {
    const found = await client.campaigns.get(created.id)
    return found.creation_status === 'DONE' ? found : null
  }, 'the campaign codes')
  check(campaign.vouchers_count === 100 && campaign.join_once === true, 'campaigns.get', campaign)

  const distribution = await perkflow('POST', '/v1/distributions', {
    name: `Reviewers get a gift card ${runId}`,
    trigger: { type: 'customer.segment.entered', segment_id: segmentId },
    action: { type: 'publish', campaign: campaignName },
  })
  check(distribution.status === 200 && distribution.body.id.startsWith('dist_'), 'POST /v1/distributions', distribution)

  if (mode === 'real') {
    const event = await client.events.create('review_left', {
      customer: { source_id: michael },
      metadata: { stars: 5, product: 'Paper A4' },
    })
    check(event.object === 'event' && event.type === 'review_left', 'events.create', event)
  }

  return { segmentId, ruleId: rule.id, campaignId: campaign.id, customerId: customer.id }
}

async function checkout(state) {
  // The code the distribution published to Michael, as a shop would find it: his publications and his wallet.
  const publications = await eventually(async () => {
    const listed = await client.distributions.publications.list({ customer: michael })
    return listed.publications.length ? listed.publications : null
  }, "Michael's publication")
  check(publications.length === 1, 'one publication for Michael', publications)
  const code = publications[0].voucher.code
  const wallet = await perkflow('GET', `/v1/customers/${encodeURIComponent(michael)}/redeemables`)
  check(wallet.status === 200 && wallet.body.data.map((item) => item.redeemable.voucher.code).includes(code), 'wallet', wallet)

  const again = await client.distributions.publications.create({
    campaign: { name: campaignName },
    customer: { source_id: michael },
    join_once: true,
  })
  check(again.voucher.code === code, 'a join-once publication answers the same code', again)

  const voucher = await client.vouchers.get(code)
  check(voucher.gift.balance === 2500 && voucher.holder_id === state.customerId, 'vouchers.get', voucher)

  const request = (sourceId) => ({
    customer: { source_id: sourceId },
    redeemables: [{ object: 'voucher', id: code }],
    order: { amount: 4000, source_id: `order-${runId}-${sourceId}` },
  })
  const stranger = await client.validations.validateStackable(request(holly))
  check(stranger.valid === false, 'a non-reviewer is refused', stranger)
  check(stranger.redeemables[0].result.error.key === 'customer_rules_violated', 'the refusal key', stranger)
  check(stranger.redeemables[0].result.error.error.message === 'Reviewers only', 'the rule message', stranger)

  const valid = await client.validations.validateStackable(request(michael))
  check(valid.valid === true && valid.redeemables[0].result.gift.credits === 2500, 'Michael validates', valid)
  check(valid.order.total_amount === 1500, 'the order total after the card', valid.order)

  const redeemed = await client.redemptions.redeemStackable(request(michael))
  check(redeemed.parent_redemption.result === 'SUCCESS' && redeemed.redemptions[0].amount === 2500, 'redeemStackable', redeemed)
  const spent = await client.vouchers.get(code)
  check(spent.gift.balance === 0, 'the balance dropped', spent.gift)

  const replay = await client.redemptions.redeemStackable(request(michael))
  check(replay.parent_redemption.id === redeemed.parent_redemption.id, 'the same order answers the same redemption')
  const second = { ...request(michael), order: { amount: 4000, source_id: `order-${runId}-second` } }
  await expectError(() => client.redemptions.redeemStackable(second), 400, 'gift_amount_exceeded', 'redeeming again')

  const rolledBack = await client.redemptions.rollbackStackable(redeemed.parent_redemption.id, { reason: 'returned' })
  check(rolledBack.parent_rollback.result === 'SUCCESS', 'rollbackStackable', rolledBack)
  const restored = await client.vouchers.get(code)
  check(restored.gift.balance === 2500, 'the balance came back', restored.gift)

  const balance = await client.vouchers.balance.create(code, { amount: 1000 })
  check(balance.balance === 3500 && balance.object === 'balance', 'vouchers.balance.create', balance)

  const legacy = await client.validations.validateVoucher(code, { customer: { source_id: michael }, order: { amount: 100 } })
  check(legacy.valid === true && legacy.code === code, 'validations.validateVoucher', legacy)

  await expectError(() => client.vouchers.get(`NOPE-${runId}`), 404, 'not_found', 'an unknown code')
  await expectError(() => client.campaigns.get(`No campaign ${runId}`), 404, 'not_found', 'an unknown campaign')
  await expectError(
    () => client.redemptions.rollback(redeemed.redemptions[0].id),
    400,
    'already_rolled_back',
    'rolling back twice',
  )

  const customer = await client.customers.get(michael)
  const summary = customer.summary.redemptions
  check(summary.total_succeeded === 1 && summary.total_failed === 1 && summary.total_rolled_back === 1, 'summary', summary)
  return { code, redemption: redeemed.parent_redemption.id }
}

try {
  let result
  if (phase === 'setup') {
    result = await setup(rest[0], rest[1])
  } else if (phase === 'checkout') {
    result = await checkout(JSON.parse(rest[0]))
  } else {
    throw new Error(`unknown phase ${phase}`)
  }
  console.log(JSON.stringify(result))
} catch (error) {
  console.error(`story failed: ${error.message}${error.key ? ` (${error.code} ${error.key}: ${error.details})` : ''}`)
  process.exit(1)
}
