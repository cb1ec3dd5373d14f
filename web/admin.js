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
  refusals: $('refusals'),
  refusalsEmpty: $('refusals-empty'),
  refusalsRecent: $('refusals-recent'),
  audit: $('audit'),
  auditEmpty: $('audit-empty'),
}

const state = {
  key: '',
  stream: null,
  streamChannels: '',
  // id -> the <li> showing it
  shown: new Map(),
  // channel -> times (ms) of the messages the stream brought, for the last minute's rate
  arrivals: new Map(),
  timer: null,
}

// ---- talking to the server -------------------------------------------------

const api = async (path, options = {}) => {
  const response = await fetch(path, {
    ...options,
    headers: { Accept: 'application/json', 'X-Api-Key': state.key, ...(options.body ? { 'Content-Type': 'application/json' } : {}), ...(options.headers || {}) },
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

const cell = (row, text, className) => {
  const td = document.createElement('td')
  td.textContent = text
  if (className) td.className = className
  row.append(td)
  return td
}

const when = (iso) => {
  const d = new Date(iso)
  return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleString()
}

// ---- signing in ---------------------------------------------------------------

const signIn = async (key) => {
  state.key = key
  try {
    // The refusals need the admin scope: a key that reads them is an admin key.
    await api('/api/admin/refusals')
  } catch (err) {
    state.key = ''
    const text = err.status === 403 ? 'That key is not an admin key (it is not in ADMIN_KEYS).' : err.status === 401 ? 'That key is not one this server knows.' : err.message
    show(els.signInError, text)
    return false
  }
  sessionStorage.setItem(KEY_STORAGE, key)
  show(els.signInError, '')
  els.dashboard.hidden = false
  els.signOut.hidden = false
  els.key.value = ''
  els.signInPanel.classList.add('signed-in')
  setConnection('signed in', false)
  await refresh()
  state.timer = setInterval(refresh, REFRESH_MS)
  return true
}

const signOut = () => {
  sessionStorage.removeItem(KEY_STORAGE)
  state.key = ''
  clearInterval(state.timer)
  if (state.stream) state.stream.close()
  state.stream = null
  state.streamChannels = ''
  els.dashboard.hidden = true
  els.signOut.hidden = true
  els.signInPanel.classList.remove('signed-in')
  els.live.replaceChildren()
  state.shown.clear()
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

const guard = async (work, errorEl) => {
  try {
    await work()
    if (errorEl) show(errorEl, '')
  } catch (err) {
    if (err.status === 401 || err.status === 403) return signOut()
    if (errorEl) show(errorEl, err.message)
  }
}

const refreshChannels = () =>
  guard(async () => {
    const { channels } = await api('/api/channels')
    const watched = channels.slice().sort((a, b) => (b.newest_id || 0) - (a.newest_id || 0)).slice(0, STREAM_CHANNELS_MAX).map((c) => c.channel)
    const rows = channels.map((c) => {
      const row = document.createElement('tr')
      cell(row, c.channel)
      cell(row, String(c.count), 'number')
      cell(row, c.newest_id === undefined ? '—' : String(c.newest_id), 'number')
      cell(row, String(lastMinute(c.channel)), 'number')
      cell(row, watched.includes(c.channel) ? 'yes' : 'no')
      return row
    })
    els.channels.replaceChildren(...rows)
    els.channelsNote.textContent =
      channels.length > STREAM_CHANNELS_MAX ? `The live view follows the ${STREAM_CHANNELS_MAX} channels written to last.` : channels.length === 0 ? 'No channel holds messages yet.' : ''
    watch(watched.length > 0 ? watched : ['global'])
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
      const who = document.createElement('span')
      who.textContent = `${m.player_name}${m.user_id === undefined ? '' : ` (${m.user_id})`} until ${when(m.until)}: ${m.reason}`
      const lift = document.createElement('button')
      lift.type = 'button'
      lift.textContent = 'Lift'
      lift.addEventListener('click', () => guard(async () => {
        await api(`/api/players/${encodeURIComponent(m.player_name)}/mute`, { method: 'DELETE' })
        await Promise.all([refreshMutes(), refreshAudit()])
      }, els.muteError))
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
      cell(row, t.name)
      cell(row, t.kind)
      const state = t.available === false ? 'unreadable' : t.state || 'waiting'
      cell(row, state + (t.paused_until ? ` until ${when(t.paused_until)}` : ''), `state-${state}`)
      cell(row, t.queued === undefined ? '—' : String(t.queued), 'number')
      cell(row, t.dropped === undefined ? '—' : String(t.dropped), 'number')
      cell(row, t.delivered === undefined ? '—' : String(t.delivered), 'number')
      cell(row, t.last_error || t.error || '')
      return row
    })
    els.outbound.replaceChildren(...rows)
    els.outboundEmpty.hidden = rows.length > 0
  })

const refreshRefusals = () =>
  guard(async () => {
    const { last_hour: lastHour, recent } = await api('/api/admin/refusals')
    els.refusals.replaceChildren(
      ...lastHour.map((r) => {
        const li = document.createElement('li')
        const reason = document.createElement('span')
        reason.textContent = `${r.status} ${r.reason}`
        const count = document.createElement('strong')
        count.textContent = String(r.count)
        li.append(reason, count)
        return li
      }),
    )
    els.refusalsEmpty.hidden = lastHour.length > 0
    els.refusalsRecent.replaceChildren(
      ...recent.slice(0, 15).map((r) => {
        const li = document.createElement('li')
        li.textContent = `${when(r.at)} ${r.status} ${r.reason} ${r.method} ${r.path}`
        return li
      }),
    )
  })

const refreshAudit = () =>
  guard(async () => {
    const { entries } = await api('/api/admin/audit')
    els.audit.replaceChildren(
      ...entries.map((e) => {
        const li = document.createElement('li')
        li.textContent = `${when(e.at)} · ${e.actor} · ${auditText(e)}`
        return li
      }),
    )
    els.auditEmpty.hidden = entries.length > 0
  })

// An audit entry as a line: what was done, to whom, how much.
const auditText = (e) => {
  const count = (removed) => (Array.isArray(removed) ? removed.length : Number(removed) || 0)
  switch (e.action) {
    case 'remove':
      return `removed message #${e.message_id} (${count(e.removed)} taken down with its replies)`
    case 'erase':
      return `erased ${e.player_name !== undefined ? e.player_name : ''}${e.user_id !== undefined ? ` (user ${e.user_id})` : ''}: ${count(e.removed)} message(s)${e.notification ? ', for Roblox\'s Right to Erasure' : ''}`
    case 'mute':
      return `muted ${e.player_name}${e.user_id !== undefined ? ` (user ${e.user_id})` : ''} until ${when(e.until)}: ${e.reason}`
    case 'unmute':
      return `lifted the mute of ${e.player_name}`
    case 'clear':
      return e.channel === null ? 'cleared every channel' : `cleared the channel ${e.channel}`
    default:
      return String(e.action)
  }
}

// ---- the live view -------------------------------------------------------------

const watch = async (channels) => {
  const wanted = channels.slice().sort().join(',')
  if (state.stream && state.streamChannels === wanted && state.stream.readyState !== EventSource.CLOSED) return
  if (state.stream) state.stream.close()
  state.streamChannels = wanted
  // The newest messages first, then the stream from right after them: nothing missed, nothing twice.
  const recent = await api(`/api/messages?channels=${encodeURIComponent(wanted)}&limit=${LIVE_MAX}`)
  for (const m of recent.messages) arrived(m, false)
  // EventSource sends no headers: a short-lived read token goes in its URL, never the key.
  const { token } = await api('/api/token', { method: 'POST' })
  const cursor = `&after=${recent.next_after}&epoch=${encodeURIComponent(recent.epoch)}`
  const stream = new EventSource(`/api/stream?channels=${encodeURIComponent(wanted)}${cursor}&token=${encodeURIComponent(token)}`)
  state.stream = stream
  stream.addEventListener('open', () => setConnection('live', true))
  stream.addEventListener('error', () => setConnection(stream.readyState === EventSource.CLOSED ? 'stream closed' : 'reconnecting…', false))
  stream.addEventListener('message', (event) => {
    const message = parse(event.data)
    if (message) arrived(message)
  })
  stream.addEventListener('removal', (event) => {
    const removal = parse(event.data)
    if (removal && Array.isArray(removal.removes)) for (const id of removal.removes) unshow(id)
  })
}

const parse = (data) => {
  try {
    return JSON.parse(data)
  } catch {
    return null
  }
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
  state.shown.set(m.id, item)
  els.live.append(item)
  while (state.shown.size > LIVE_MAX) {
    const [oldest, li] = state.shown.entries().next().value
    li.remove()
    state.shown.delete(oldest)
  }
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
  const time = document.createElement('time')
  time.dateTime = m.timestamp
  time.textContent = new Date(m.timestamp).toLocaleTimeString()
  const who = document.createElement('span')
  who.className = 'player'
  who.textContent = m.player_name
  const channel = document.createElement('span')
  channel.className = 'tag channel'
  channel.textContent = m.channel
  const id = document.createElement('span')
  id.className = 'id'
  id.textContent = `#${m.id}`
  meta.append(time, who, channel, id)
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
        unshow(m.id)
        await refreshAudit()
      } finally {
        remove.disabled = false
      }
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
  const key = els.key.value.trim()
  if (key === '') return show(els.signInError, 'Enter an admin key.')
  void signIn(key)
})
els.signOut.addEventListener('click', signOut)

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
    els.muteReason.value = ''
    await Promise.all([refreshMutes(), refreshAudit()])
  }, els.muteError)
})

const saved = sessionStorage.getItem(KEY_STORAGE)
if (saved) void signIn(saved)
