import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client'

/*
 * Prometheus metrics, exposed by prom-client: one registry per server (two
 * servers in one process count apart), and one for the process itself
 * (prom-client's default metrics: CPU, memory, event loop lag, GC), made once
 * per process because there is one process whatever the number of servers in
 * it, and each copy of the default collectors would add its own event loop
 * monitor and GC observer.
 *
 * Every label takes values from a bounded set: routes are the route table's
 * templates (`/api/messages/:player_name`, never the name), refusal reasons
 * a fixed list, store operations the ports' functions. So the number of
 * series stays bounded whatever clients send.
 *
 * What a send or a list moves is kept as plain numbers and handed to
 * prom-client when scraped: prom-client's own observe and inc check the
 * labels and build a key string on every call, about 0.6 µs each, and a send
 * made five of them. The two histograms are `BucketHistogram`s (below),
 * which prom-client's registry writes out as it writes its own, and the
 * counters are prom-client's, told at scrape time what they have not been
 * told yet.
 */

/** The latencies a request may take: under a millisecond for most, up to a long poll's 25 s wait. */
const REQUEST_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]
/** A store operation: microseconds in memory, a round trip and a script on Redis, the 2 s deadline at the most. */
const STORE_BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5]

export type Metrics = {
  /** The exposition, in Prometheus's text format: this server's metrics, then the process's. */
  readonly text: () => Promise<string>
  readonly contentType: string
  /** A request answered (or whose client went away), by method, route template and status. */
  readonly request: (method: string, route: string, status: number, seconds: number) => void
  readonly stored: (type: 'player' | 'reply', count: number) => void
  readonly evicted: (count: number) => void
  readonly cleared: (count: number) => void
  readonly replayed: () => void
  /** A 401, 403 or 429, by a reason from a fixed list (never a text a client chose). */
  readonly refused: (status: number, reason: string) => void
  /** One call to a store port: how long it took and whether it failed. */
  readonly storeOperation: (operation: string, seconds: number, failed: boolean) => void
  /** Gauges read when scraped: what the server holds open, and whether its store answers. */
  readonly watch: (read: { readonly heldPolls: () => number; readonly openStreams: () => number; readonly storeUp: () => boolean }) => void
  /** An attempt this process made to hand a message to an outbound target, by target (named by the configuration: a bounded set) and outcome. */
  readonly delivery: (target: string, outcome: 'delivered' | 'retried' | 'refused') => void
  /** A model reply this process stored, or did not (the model failed or timed out, or its text was refused). */
  readonly modelReply: (outcome: 'replied' | 'failed') => void
  /** A target paused by this process after failing again and again. */
  readonly paused: (target: string) => void
  /** Gauges of the outbound queues, read from the store when scraped (shared by every process on Redis). */
  readonly watchOutbound: (read: () => Promise<ReadonlyArray<OutboundGauge>>) => void
}

/** What a scrape shows of one outbound target's queue. */
export type OutboundGauge = { readonly target: string; readonly queued: number; readonly dropped: number; readonly paused: boolean }

let processRegistry: Registry | undefined

/** The process's own metrics, collected once per process (see above). */
const processMetrics = (): Registry => {
  if (processRegistry === undefined) {
    processRegistry = new Registry()
    collectDefaultMetrics({ register: processRegistry })
  }
  return processRegistry
}

/** One series of a histogram: a count per bucket (not cumulative; the last is +Inf), the sum and the count. */
export type Series = { readonly labels: Readonly<Record<string, string>>; readonly counts: Float64Array; sum: number; count: number }

/**
 * A Prometheus histogram whose observations are plain arithmetic, written
 * out by prom-client's registry exactly as prom-client writes its own
 * Histogram (a test holds the two texts equal). `series(labels)` is called
 * once per label set; its `observe` is the hot path.
 */
export class BucketHistogram {
  readonly type = 'histogram'
  readonly aggregator = 'sum'
  private readonly all: Series[] = []

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly bounds: ReadonlyArray<number>,
  ) {}

  series(labels: Readonly<Record<string, string>>): Series {
    const made: Series = { labels, counts: new Float64Array(this.bounds.length + 1), sum: 0, count: 0 }
    this.all.push(made)
    return made
  }

  observe(series: Series, value: number): void {
    let i = 0
    while (i < this.bounds.length && value > (this.bounds[i] as number)) i++
    series.counts[i] = (series.counts[i] as number) + 1
    series.sum += value
    series.count++
  }

  /** What prom-client's registry reads: the same values, in the same order, as its Histogram gives. */
  async get() {
    const values: Array<{ labels: Record<string, string | number>; sharedLabels?: Record<string, string>; value: number; metricName: string }> = []
    for (const s of this.all) {
      let cumulative = 0
      this.bounds.forEach((bound, i) => {
        cumulative += s.counts[i] as number
        values.push({ labels: { le: bound }, sharedLabels: { ...s.labels }, value: cumulative, metricName: `${this.name}_bucket` })
      })
      values.push({ labels: { le: '+Inf' }, sharedLabels: { ...s.labels }, value: s.count, metricName: `${this.name}_bucket` })
      values.push({ labels: {}, sharedLabels: { ...s.labels }, value: s.sum, metricName: `${this.name}_sum` })
      values.push({ labels: {}, sharedLabels: { ...s.labels }, value: s.count, metricName: `${this.name}_count` })
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator }
  }

  reset(): void {
    for (const s of this.all) {
      s.counts.fill(0)
      s.sum = 0
      s.count = 0
    }
  }
}

export const createMetrics = (): Metrics => {
  const registry = new Registry()
  const registers = [registry]
  const register = (histogram: BucketHistogram): BucketHistogram => {
    // The registry needs only a name and get(); its types name prom-client's own classes.
    registry.registerMetric(histogram as unknown as Parameters<Registry['registerMetric']>[0])
    return histogram
  }
  const requests = register(
    new BucketHistogram(
      'rms_http_request_duration_seconds',
      'API requests by method, route template and status, and how long each took to answer (a long poll includes its wait, a stream its life); health probes and scrapes are not counted',
      REQUEST_BUCKETS,
    ),
  )
  const storeLatency = register(new BucketHistogram('rms_store_operation_duration_seconds', 'Store operations by operation, and how long each took, failures included', STORE_BUCKETS))

  const counts = { player: 0, reply: 0, evicted: 0, cleared: 0, replays: 0 }
  /** A counter that reads its total when scraped, and adds to prom-client's what it has not told it yet. */
  const counter = (name: string, help: string, read: () => number): void => {
    let told = 0
    new Counter({
      name,
      help,
      registers,
      collect() {
        const now = read()
        this.inc(now - told)
        told = now
      },
    })
  }
  let storedTold = { player: 0, reply: 0 }
  new Counter({
    name: 'rms_messages_stored_total',
    help: "Messages stored by this process, players' and automatic replies",
    labelNames: ['type'],
    registers,
    collect() {
      this.inc({ type: 'player' }, counts.player - storedTold.player)
      this.inc({ type: 'reply' }, counts.reply - storedTold.reply)
      storedTold = { player: counts.player, reply: counts.reply }
    },
  })
  counter('rms_messages_evicted_total', "Messages evicted by this process's sends, the oldest of a full channel (MAX_MESSAGES)", () => counts.evicted)
  counter('rms_messages_cleared_total', 'Messages removed by clears made through this process', () => counts.cleared)
  counter('rms_idempotent_replays_total', 'Sends answered by replaying the first answer to their Idempotency-Key', () => counts.replays)
  // Rare: prom-client's own increments.
  const refusals = new Counter({ name: 'rms_refusals_total', help: 'Requests refused with 401, 403 or 429, by reason', labelNames: ['status', 'reason'], registers })
  const storeErrors = new Counter({ name: 'rms_store_errors_total', help: 'Store operations that failed (the store unavailable), by operation', labelNames: ['operation'], registers })

  const deliveries = new Counter({ name: 'rms_outbound_attempts_total', help: 'Attempts to hand a message to an outbound target, by target and outcome (delivered, retried, refused for good)', labelNames: ['target', 'outcome'], registers })
  const modelReplyCount = new Counter({ name: 'rms_model_replies_total', help: 'Model replies (AUTO_REPLY_MODEL_URL) by outcome: replied, or failed (the model failed or timed out, or its reply was refused)', labelNames: ['outcome'], registers })
  const pauses = new Counter({ name: 'rms_outbound_pauses_total', help: 'Times an outbound target was paused after failing again and again', labelNames: ['target'], registers })

  // One series per label set, found by a key made once per request; the sets are bounded (see above).
  // By route, then method, then status: the route and method strings are the same objects every time (the route table's,
  // the HTTP parser's), their hashes kept, where a key joined from the three was a new string to build and hash per request.
  const requestSeries = new Map<string, Map<string, Map<number, Series>>>()
  const storeSeries = new Map<string, Series>()

  return {
    text: async () => `${await registry.metrics()}\n${await processMetrics().metrics()}`,
    contentType: registry.contentType,
    request: (method, route, status, seconds) => {
      let byMethod = requestSeries.get(route)
      if (byMethod === undefined) requestSeries.set(route, (byMethod = new Map()))
      let byStatus = byMethod.get(method)
      if (byStatus === undefined) byMethod.set(method, (byStatus = new Map()))
      let series = byStatus.get(status)
      if (series === undefined) byStatus.set(status, (series = requests.series({ method, route, status: String(status) })))
      requests.observe(series, seconds)
    },
    stored: (type, count) => void (counts[type] += count),
    evicted: (count) => void (counts.evicted += count),
    cleared: (count) => void (counts.cleared += count),
    replayed: () => void counts.replays++,
    refused: (status, reason) => refusals.inc({ status: String(status), reason }),
    storeOperation: (operation, seconds, failed) => {
      let series = storeSeries.get(operation)
      if (series === undefined) {
        series = storeLatency.series({ operation })
        storeSeries.set(operation, series)
      }
      storeLatency.observe(series, seconds)
      if (failed) storeErrors.inc({ operation })
    },
    delivery: (target, outcome) => deliveries.inc({ target, outcome }),
    paused: (target) => pauses.inc({ target }),
    modelReply: (outcome) => modelReplyCount.inc({ outcome }),
    watchOutbound: (read) => {
      // One read of the store per scrape, shared by the three gauges.
      let reading: Promise<ReadonlyArray<OutboundGauge>> | undefined
      const current = (): Promise<ReadonlyArray<OutboundGauge>> => {
        reading ??= read().finally(() => setImmediate(() => (reading = undefined)))
        return reading
      }
      const gauge = (name: string, help: string, value: (g: OutboundGauge) => number): void =>
        void new Gauge({
          name,
          help,
          labelNames: ['target'],
          registers,
          async collect() {
            for (const g of await current()) this.set({ target: g.target }, value(g))
          },
        })
      gauge('rms_outbound_queued', 'Messages queued for each outbound target now', (g) => g.queued)
      gauge('rms_outbound_dropped', "Messages dropped from each outbound target's queue since it was made: overflow, refused for good, or left at a shutdown the store could not keep", (g) => g.dropped)
      gauge('rms_outbound_paused', '1 while an outbound target is paused after failing again and again', (g) => (g.paused ? 1 : 0))
    },
    watch: (read) => {
      new Gauge({ name: 'rms_long_polls_held', help: 'Long polls held now', registers, collect() { this.set(read.heldPolls()) } })
      new Gauge({ name: 'rms_event_streams_open', help: 'Event streams open now', registers, collect() { this.set(read.openStreams()) } })
      new Gauge({ name: 'rms_store_up', help: '1 when the store answers, 0 while it is away (Redis down)', registers, collect() { this.set(read.storeUp() ? 1 : 0) } })
    },
  }
}
