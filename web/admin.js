// The admin dashboard: plain DOM, no framework, no build, no CDN. Every text
// from a player or the outside world goes through textContent, never through
// HTML parsing. The admin key is kept for this tab only (sessionStorage) and
// sent in a header; the live stream gets a short-lived read token instead.
'use strict'

const REFRESH_MS = 5000
const LIVE_MAX = 200
// A stream reads at most this many channels at once (the server's limit on channels=).
const STREAM_CHANNELS_MAX = 10
const KEY_STORAGE = 'roblox-messaging-server.admin-key'
const $ = (id) => document.getElementById(id)

const els = {
  connection: $('connection'),
  signInPanel: $('sign-in-panel'),
  signIn: $('sign-in'),
  key: $('admin-key'),
  signInError: $('sign-in-error'),
  openNote: $('open-note'),
  signOut: $('sign-out'),
  dashboard: $('dashboard'),
  channels: document.querySelector('#channels tbody'),
  channelsNote: $('channels-note'),
  live: $('live'),
  liveEmpty: $('live-empty'),
  liveCount: $('live-count'),
  liveError: $('live-error'),
  muteForm: $('mute-form'),
  mutePlayer: $('mute-player'),
  muteUserId: $('mute-user-id'),
  muteSeconds: $('mute-seconds'),
  muteReason: $('mute-reason'),
  muteError: $('mute-error'),
  mutes: $('mutes'),
  mutesEmpty: $('mutes-empty'),
  outbound: document.querySelector('#outbound tbody'),
  outboundEmpty: $('outbound-empty'),
  outboundError: $('outbound-error'),
  refusals: $('refusals'),
  refusalsEmpty: $('refusals-empty'),
  refusalsRecent: $('refusals-recent'),
  refusalsError: $('refusals-error'),
  audit: $('audit'),
  auditEmpty: $('audit-empty'),
  auditError: $('audit-error'),
}

const state = {
  // The key this tab signed in with; '' on a server without keys. null: signed out.
  key: null,
  signingIn: false,
  // A server without keys: its stream needs no token (it issues none).
  open: false,
  stream: null,
  streamChannels: '',
  // Bumped by every new watch and by signing out: a watch that finds it changed after a wait gives up.
  watchGeneration: 0,
  // The channels a watch is opening the stream for, while it waits on the server.
  opening: null,
  // The store's life the view's ids belong to: a new one (a restart of the memory store) reuses ids.
  epoch: null,
  // A key limited to channels may not read global: once refused there, an empty store is not watched.
  globalRefused: false,
  // id -> the <li> showing it, the newest first in the list
  shown: new Map(),
  // channel -> times (ms) of the messages the stream brought, for the last minute's rate
  arrivals: new Map(),
  timer: null,
}

// ---- talking to the server -------------------------------------------------

const api = async (path, options = {}) => {
  const response = await fetch(path, {
    ...options,
    headers: {
      Accept: 'application/json',
      ...(state.key ? { 'X-Api-Key': state.key } : {}),
      ...(options.body ? { 'Content-Type': 'application/json' } : {}),
      ...(options.headers || {}),
    },
  })
  let body = null
  try {
    body = await response.json()
  } catch {
    body = null
  }
  if (!response.ok || !body || body.success !== true) {
    const error = new Error(body && typeof body.error === 'string' ? body.error : `the server answered ${response.status} ${response.statusText}`)
    error.status = response.status
    throw error
  }
  return body
}

const show = (el, text) => {
  el.textContent = text
  el.hidden = text === ''
}

const cell = (row, content, className) => {
  const td = document.createElement('td')
  if (typeof content === 'string') td.textContent = content
  else td.append(...content)
  if (className) td.className = className
  row.append(td)
  return td
}

const when = (iso) => {
  const d = new Date(iso)
  return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleString()
}

// An instant as a <time>: readable here, exact in its datetime attribute.
const timeEl = (iso, text = when(iso)) => {
  const time = document.createElement('time')
  time.dateTime = iso
  time.textContent = text
  return time
}

const span = (text, className) => {
  const el = document.createElement('span')
  el.textContent = text
  if (className) el.className = className
  return el
}

// Parts of one line of text (strings and elements) in one element, so that a list row keeps them together.
const line = (...parts) => {
  const el = document.createElement('span')
  el.append(...parts)
  return el
}

const plural = (n, one, many) => `${n} ${n === 1 ? one : many}`

// ---- signing in ---------------------------------------------------------------

const signIn = async (key) => {
  if (state.signingIn) return
  state.signingIn = true
  state.key = key
  try {
    // The refusals need the admin scope: a key that reads them is an admin key.
    await api('/api/admin/refusals')
  } catch (err) {
    state.key = null
    state.signingIn = false
    const text =
      err.status === 401
        ? key === ''
          ? 'Enter an admin key: this server has keys.'
          : 'That is not a key this server knows.'
        : err.status === 403
          ? 'That key is not an admin key: it may read and send, not moderate (admin keys are set in ADMIN_KEYS).'
          : `Could not sign in: ${err.message}`
    // A key refused is not kept, even for this tab.
    sessionStorage.removeItem(KEY_STORAGE)
    show(els.signInError, text)
    return
  }
  sessionStorage.setItem(KEY_STORAGE, key)
  state.signingIn = false
  show(els.signInError, '')
  els.dashboard.hidden = false
  els.signOut.hidden = false
  els.key.value = ''
  els.signInPanel.hidden = true
  setConnection('signed in', false)
  await refresh()
  // A 401 while refreshing has signed out again.
  if (state.key === key && state.timer === null) state.timer = setInterval(refresh, REFRESH_MS)
}

// `why`: shown on the sign-in form, when the server stopped taking the key.
const signOut = (why = '') => {
  sessionStorage.removeItem(KEY_STORAGE)
  state.key = null
  state.open = false
  state.globalRefused = false
  state.watchGeneration++
  clearInterval(state.timer)
  state.timer = null
  if (state.stream) state.stream.close()
  state.stream = null
  state.streamChannels = ''
  state.opening = null
  state.epoch = null
  els.dashboard.hidden = true
  els.signOut.hidden = true
  els.signInPanel.hidden = false
  show(els.openNote, '')
  // Nothing read with the key stays in the page for whoever signs in next.
  for (const list of [els.live, els.channels, els.mutes, els.outbound, els.refusals, els.refusalsRecent, els.audit]) list.replaceChildren()
  for (const alert of [els.liveError, els.muteError, els.outboundError, els.refusalsError, els.auditError]) show(alert, '')
  state.shown.clear()
  state.arrivals.clear()
  updateCount()
  show(els.signInError, why)
  setConnection('signed out', false)
}

const setConnection = (text, live) => {
  els.connection.textContent = text
  els.connection.classList.toggle('live', live)
}

// ---- panels ------------------------------------------------------------------

const refresh = async () => {
  await Promise.all([refreshChannels(), refreshMutes(), refreshStatus(), refreshRefusals(), refreshAudit()])
}

// Runs a request for a panel: its failure is shown in the panel's alert. Only a 401 (the key no longer
// known) signs out; a 403 is a refusal of this one thing (a key limited to channels, say), shown like any other.
const guard = async (work, errorEl) => {
  if (state.key === null) return
  try {
    await work()
    show(errorEl, '')
  } catch (err) {
    if (state.key === null) return
    if (err.status === 401) return signOut('The server no longer takes this key: sign in again.')
    show(errorEl, err.message)
  }
}

const refreshChannels = () =>
  guard(async () => {
    const { channels } = await api('/api/channels')
    const watched = channels
      .slice()
      .sort((a, b) => (b.newest_id ?? 0) - (a.newest_id ?? 0))
      .slice(0, STREAM_CHANNELS_MAX)
      .map((c) => c.channel)
    // Global is followed too, stored in or not, while there is room: it is where a send goes unless it names a
    // channel, so its first message shows at once rather than at the next refresh.
    if (!state.globalRefused && !watched.includes('global') && watched.length < STREAM_CHANNELS_MAX) watched.push('global')
    const rows = channels.map((c) => {
      const row = document.createElement('tr')
      const followed = watched.includes(c.channel)
      cell(row, c.channel, 'name')
      cell(row, String(c.count), 'number')
      cell(row, c.newest_id == null ? '—' : String(c.newest_id), 'number')
      // The last minute is counted from what the stream brought: a channel the page does not follow has no figure, not 0.
      cell(row, followed ? String(lastMinute(c.channel)) : '—', 'number')
      cell(row, followed ? 'yes' : 'no')
      return row
    })
    els.channels.replaceChildren(...rows)
    els.channelsNote.textContent =
      channels.length > STREAM_CHANNELS_MAX
        ? `The live view follows the ${STREAM_CHANNELS_MAX} channels written to last.`
        : channels.length === 0
          ? 'No channel holds messages yet.'
          : ''
    await watch(watched)
  }, els.liveError)

const lastMinute = (channel) => {
  const times = state.arrivals.get(channel) || []
  const since = Date.now() - 60_000
  while (times.length > 0 && times[0] < since) times.shift()
  return times.length
}

const refreshMutes = () =>
  guard(async () => {
    const { mutes } = await api('/api/mutes')
    const items = mutes.map((m) => {
      const li = document.createElement('li')
      const who = line(
        span(m.player_name, 'player'),
        m.user_id === undefined ? '' : ` (user ${m.user_id})`,
        ' until ',
        timeEl(m.until),
        `: ${m.reason}`,
        m.by ? ` · by ${m.by}` : '',
      )
      const lift = document.createElement('button')
      lift.type = 'button'
      lift.textContent = 'Lift'
      lift.setAttribute('aria-label', `Lift the mute of ${m.player_name}`)
      lift.addEventListener('click', () =>
        guard(async () => {
          lift.disabled = true
          try {
            await api(`/api/players/${encodeURIComponent(m.player_name)}/mute`, { method: 'DELETE' })
          } finally {
            lift.disabled = false
          }
          await Promise.all([refreshMutes(), refreshAudit()])
        }, els.muteError),
      )
      li.append(who, lift)
      return li
    })
    els.mutes.replaceChildren(...items)
    els.mutesEmpty.hidden = items.length > 0
  }, els.muteError)

const refreshStatus = () =>
  guard(async () => {
    const status = await api('/api')
    const targets = status.outbound || []
    const rows = targets.map((t) => {
      const row = document.createElement('tr')
      cell(row, t.name, 'name')
      cell(row, t.kind)
      // No state yet: the delivery loop has not reported (it does at start-up).
      const kind = t.available === false ? 'unreadable' : t.state || 'waiting'
      const stateParts = [span(kind, `state state-${kind}`)]
      if (t.paused_until) stateParts.push(' until ', timeEl(t.paused_until))
      if (t.failures) stateParts.push(` · ${plural(t.failures, 'failure', 'failures')}`)
      cell(row, stateParts, 'state-cell')
      cell(row, t.queued === undefined ? '—' : String(t.queued), 'number')
      cell(row, t.dropped === undefined ? '—' : String(t.dropped), 'number')
      cell(row, t.delivered === undefined ? '—' : String(t.delivered), 'number')
      cell(row, t.retried === undefined ? '—' : String(t.retried), 'number')
      cell(row, t.last_error || t.error || '', 'error')
      return row
    })
    els.outbound.replaceChildren(...rows)
    els.outboundEmpty.hidden = rows.length > 0
  }, els.outboundError)

const refreshRefusals = () =>
  guard(async () => {
    const { last_hour: lastHour, recent } = await api('/api/admin/refusals')
    els.refusals.replaceChildren(
      ...lastHour.map((r) => {
        const li = document.createElement('li')
        const count = document.createElement('strong')
        count.textContent = String(r.count)
        li.append(span(`${r.status} ${r.reason}`), count)
        return li
      }),
    )
    els.refusalsEmpty.hidden = lastHour.length > 0
    els.refusalsRecent.replaceChildren(
      ...recent.slice(0, 15).map((r) => {
        const li = document.createElement('li')
        li.append(line(timeEl(r.at), ` ${r.status} ${r.reason} ${r.method} ${r.path}`))
        return li
      }),
    )
  }, els.refusalsError)

const refreshAudit = () =>
  guard(async () => {
    const { entries } = await api('/api/admin/audit')
    els.audit.replaceChildren(
      ...entries.map((e) => {
        const li = document.createElement('li')
        li.append(line(timeEl(e.at), ` · ${e.actor} · `, ...auditParts(e)))
        return li
      }),
    )
    els.auditEmpty.hidden = entries.length > 0
  }, els.auditError)

// An audit entry as the parts of a line: what was done, to whom, how much.
const auditParts = (e) => {
  switch (e.action) {
    case 'remove': {
      // `removed`: the ids taken, the message's own first.
      const replies = Array.isArray(e.removed) ? e.removed.length - 1 : 0
      return [`removed message #${e.message_id}${replies > 0 ? ` and ${plural(replies, 'reply', 'replies')} to it` : ''}`]
    }
    case 'erase': {
      const who = [e.player_name, e.user_id === undefined ? undefined : `user ${e.user_id}`].filter((s) => s !== undefined).join(', ')
      const count = Array.isArray(e.removed) ? e.removed.length : Number(e.removed) || 0
      return [`erased ${who}: ${plural(count, 'message', 'messages')}${e.notification ? " (Roblox's Right to Erasure)" : ''}`]
    }
    case 'mute':
      return [`muted ${e.player_name}${e.user_id !== undefined ? ` (user ${e.user_id})` : ''} until `, timeEl(e.until), `: ${e.reason}`]
    case 'unmute':
      return [`lifted the mute of ${e.player_name}`]
    case 'clear':
      return [e.channel === null ? 'cleared every channel' : `cleared the channel ${e.channel}`]
    default:
      return [String(e.action)]
  }
}

// ---- the live view -------------------------------------------------------------

// Follows `channels`: their newest messages first, then the stream from right after them, so that nothing is
// missed and nothing shown twice. Kept as it is while the same channels are followed and the stream stands.
const watch = async (channels, force = false) => {
  const wanted = channels.slice().sort().join(',')
  if (!force && state.streamChannels === wanted && (wanted === '' || state.opening === wanted || (state.stream && state.stream.readyState !== EventSource.CLOSED))) return
  const generation = ++state.watchGeneration
  if (state.stream) state.stream.close()
  state.stream = null
  state.streamChannels = wanted
  if (wanted === '') {
    replaceShown([])
    return setConnection('no channel to follow yet', false)
  }
  state.opening = wanted
  const opened = (async () => {
    const recent = await api(`/api/messages?channels=${encodeURIComponent(wanted)}&limit=${LIVE_MAX}`)
    if (generation !== state.watchGeneration) return
    if (state.epoch !== recent.epoch) replaceShown([])
    state.epoch = recent.epoch
    replaceShown(recent.messages)
    // EventSource sends no headers: a short-lived read token goes in its URL, never the key. A server without
    // keys has no tokens (it answers 400 saying so) and streams to anyone.
    let token = ''
    if (!state.open) {
      try {
        token = (await api('/api/token', { method: 'POST' })).token
      } catch (err) {
        if (err.status !== 400) throw err
        state.open = true
        show(els.openNote, 'This server has no keys: anyone who can reach it may moderate. Set ADMIN_KEYS before exposing it.')
      }
      if (generation !== state.watchGeneration) return
    }
    const params = new URLSearchParams({ channels: wanted, after: String(recent.next_after), epoch: recent.epoch })
    if (token) params.set('token', token)
    const stream = new EventSource(`/api/stream?${params}`)
    state.stream = stream
    stream.addEventListener('open', () => setConnection('live', true))
    stream.addEventListener('error', () => {
      if (state.stream !== stream) return
      // A dropped stream EventSource resumes by itself (with Last-Event-ID); one it gave up on (its token expired,
      // say) is opened again, with a new token, by the next refresh.
      setConnection(stream.readyState === EventSource.CLOSED ? 'stream closed: opening again shortly' : 'reconnecting…', false)
    })
    stream.addEventListener('message', (event) => {
      const message = parse(event.data)
      if (message) arrived(message)
    })
    stream.addEventListener('removal', (event) => {
      const removal = parse(event.data)
      if (removal && Array.isArray(removal.removes)) for (const id of removal.removes) unshow(id)
    })
    // Messages after the cursor are gone (evicted, cleared) or the store started a new life with new ids:
    // what is shown may be stale or name other messages, so the view is read again.
    stream.addEventListener('gap', () => {
      if (state.stream === stream) void guard(() => watch(channels, true), els.liveError)
    })
  })()
  try {
    await opened
  } catch (err) {
    if (generation !== state.watchGeneration) return
    // A key limited to channels may not read global: it follows only its own channels that hold messages, and with
    // none, nothing until one does.
    if (err.status === 403 && channels.includes('global') && !state.globalRefused) {
      state.globalRefused = true
      state.streamChannels = ''
      state.opening = null
      return watch(channels.filter((c) => c !== 'global'))
    }
    state.streamChannels = ''
    setConnection('not following', false)
    throw err
  } finally {
    if (generation === state.watchGeneration) state.opening = null
  }
}

const parse = (data) => {
  try {
    return JSON.parse(data)
  } catch {
    return null
  }
}

// The view becomes `messages` (a fresh read): what is still there stays in place, the rest goes.
const replaceShown = (messages) => {
  const fresh = new Set(messages.filter((m) => m.type !== 'removal').map((m) => m.id))
  for (const id of [...state.shown.keys()]) if (!fresh.has(id)) unshow(id)
  for (const m of messages) arrived(m, false)
}

// A message for the live view; `live`: it came on the stream (and counts toward its channel's last minute).
const arrived = (m, live = true) => {
  if (m.type === 'removal') {
    for (const id of m.removes || []) unshow(id)
    return
  }
  if (state.shown.has(m.id)) return
  if (live) {
    const times = state.arrivals.get(m.channel) || []
    times.push(Date.now())
    state.arrivals.set(m.channel, times)
  }
  const item = render(m)
  // The newest first: before the first shown message with a smaller id (the stream brings them in id order,
  // so that is nearly always the first).
  let before = els.live.firstElementChild
  while (before && Number(before.dataset.id) > m.id) before = before.nextElementSibling
  els.live.insertBefore(item, before)
  state.shown.set(m.id, item)
  while (state.shown.size > LIVE_MAX) unshow(Number(els.live.lastElementChild.dataset.id))
  updateCount()
}

const unshow = (id) => {
  const li = state.shown.get(id)
  if (!li) return
  li.remove()
  state.shown.delete(id)
  updateCount()
}

const updateCount = () => {
  els.liveCount.textContent = state.shown.size === 0 ? '' : `(${state.shown.size})`
  els.liveEmpty.hidden = state.shown.size > 0
}

const render = (m) => {
  const item = document.createElement('li')
  item.className = m.type === 'reply' ? 'message reply' : 'message'
  item.dataset.id = String(m.id)
  const meta = document.createElement('div')
  meta.className = 'meta'
  const time = timeEl(m.timestamp, new Date(m.timestamp).toLocaleTimeString())
  const who = span(m.player_name, 'player')
  meta.append(time, who)
  if (m.user_id !== undefined) meta.append(span(`user ${m.user_id}`, 'user-id'))
  if (m.type === 'reply') meta.append(span('reply', 'tag'))
  meta.append(span(m.channel, 'tag channel'), span(`#${m.id}`, 'id'))
  const text = document.createElement('p')
  text.className = 'text'
  text.textContent = m.message
  const actions = document.createElement('div')
  actions.className = 'message-actions'
  const remove = document.createElement('button')
  remove.type = 'button'
  remove.className = 'danger'
  remove.textContent = 'Remove'
  remove.setAttribute('aria-label', `Remove message ${m.id} by ${m.player_name}`)
  remove.addEventListener('click', () =>
    guard(async () => {
      remove.disabled = true
      try {
        await api(`/api/messages/${m.id}`, { method: 'DELETE' })
      } finally {
        remove.disabled = false
      }
      // Its replies go with it: the stream's removal entry names them all.
      unshow(m.id)
      await refreshAudit()
    }, els.liveError),
  )
  actions.append(remove)
  if (m.type === 'player') {
    const mute = document.createElement('button')
    mute.type = 'button'
    mute.textContent = 'Mute'
    mute.setAttribute('aria-label', `Mute ${m.player_name}`)
    mute.addEventListener('click', () => {
      els.mutePlayer.value = m.player_name
      els.muteUserId.value = m.user_id === undefined ? '' : String(m.user_id)
      els.muteReason.focus()
    })
    actions.append(mute)
  }
  item.append(meta, text, actions)
  return item
}

// ---- wiring ---------------------------------------------------------------------

els.signIn.addEventListener('submit', (event) => {
  event.preventDefault()
  // An empty key signs in to a server without keys; one with keys refuses it, and the page says to enter one.
  void signIn(els.key.value.trim())
})
els.signOut.addEventListener('click', () => signOut())

els.muteForm.addEventListener('submit', (event) => {
  event.preventDefault()
  const player = els.mutePlayer.value.trim()
  const reason = els.muteReason.value.trim()
  const userId = els.muteUserId.value.trim()
  if (player === '') return show(els.muteError, 'Enter the player name to mute.')
  if (reason === '') return show(els.muteError, 'Enter a reason: the player is told it.')
  if (userId !== '' && !/^[0-9]+$/.test(userId)) return show(els.muteError, 'A UserId is a whole number.')
  void guard(async () => {
    const body = { seconds: Number(els.muteSeconds.value), reason, ...(userId === '' ? {} : { user_id: Number(userId) }) }
    await api(`/api/players/${encodeURIComponent(player)}/mute`, { method: 'POST', body: JSON.stringify(body) })
    els.mutePlayer.value = ''
    els.muteUserId.value = ''
    els.muteReason.value = ''
    await Promise.all([refreshMutes(), refreshAudit()])
  }, els.muteError)
})

const saved = sessionStorage.getItem(KEY_STORAGE)
if (saved !== null) void signIn(saved)
