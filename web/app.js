// The tester: plain DOM, no framework, no build. Message text only ever goes
// through textContent, never through HTML parsing.
'use strict'

const POLL_MS = 5000
// While the stream is live the list is still reloaded this often: the stream
// carries new messages, not clears or evictions made by someone else.
const RECONCILE_MS = 30000
// A stream the browser gave up on (the server refused it) is tried again this often.
const STREAM_RETRY_MS = 30000
const $ = (id) => document.getElementById(id)

const els = {
  connection: $('connection'),
  sendForm: $('send-form'),
  player: $('player-name'),
  message: $('message'),
  messageLength: $('message-length'),
  channel: $('channel'),
  apiKey: $('api-key'),
  send: $('send'),
  sendError: $('send-error'),
  refresh: $('refresh'),
  clear: $('clear'),
  filterPlayer: $('filter-player'),
  filterLimit: $('filter-limit'),
  listError: $('list-error'),
  list: $('messages'),
  empty: $('empty'),
  count: $('count'),
}

// Ids taken down by removal entries this page has seen, kept (the newest this many) so that a list read before a
// removal and answered after it cannot bring a removed message back.
const REMOVED_KEPT = 10000

const state = {
  messages: new Map(), // id -> message, as the server sent it
  removed: new Set(), // ids removal entries took out, in this epoch
  nextAfter: 0,
  epoch: null,
  stream: null,
  streamFailedAt: -Infinity,
  loading: null,
  loadedAt: 0,
  view: null, // the filters the list shows, as they were when last applied
  stickToBottom: true,
  renderedEpoch: null,
}

// ---- talking to the server -------------------------------------------------

// The key is kept for this tab only (sessionStorage) and sent in a header, never in a URL.
const KEY_STORAGE = 'roblox-messaging-server.api-key'
const apiKey = () => els.apiKey.value.trim()
const keyHeaders = () => (apiKey() ? { 'X-Api-Key': apiKey() } : {})

const api = async (path, options = {}) => {
  const response = await fetch(path, { ...options, headers: { Accept: 'application/json', ...keyHeaders(), ...(options.headers || {}) } })
  let body = null
  try {
    body = await response.json()
  } catch {
    body = null
  }
  if (!response.ok || !body || body.success !== true) {
    const text = body && typeof body.error === 'string' ? body.error : `the server answered ${response.status} ${response.statusText}`
    throw new Error(text)
  }
  return body
}

const filters = () => {
  const player = els.filterPlayer.value.trim()
  const limit = Number.parseInt(els.filterLimit.value, 10)
  const channel = els.channel.value.trim()
  return { player, limit: Number.isInteger(limit) && limit > 0 ? Math.min(limit, 1000) : 100, channel }
}

const listPath = ({ player, limit, channel }) => {
  const params = new URLSearchParams({ limit: String(limit) })
  if (channel) params.set('channel', channel)
  const base = player ? `/api/messages/${encodeURIComponent(player)}` : '/api/messages'
  return `${base}?${params}`
}

const streamPath = ({ player, channel }, after) => {
  const params = new URLSearchParams({ after: String(after) })
  if (state.epoch) params.set('epoch', state.epoch)
  if (channel) params.set('channel', channel)
  if (player) params.set('player', player)
  return `/api/stream?${params}`
}

// ---- showing -----------------------------------------------------------------

const showError = (el, text) => {
  el.textContent = text
  el.hidden = !text
}

const formatTime = (iso) => {
  const date = new Date(iso)
  if (Number.isNaN(date.getTime())) return iso
  const time = date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' })
  if (date.toDateString() === new Date().toDateString()) return time
  return `${date.toLocaleDateString([], { month: 'short', day: 'numeric' })} ${time}`
}

const renderMessage = (m) => {
  const item = document.createElement('li')
  item.className = m.type === 'reply' ? 'message reply' : 'message'
  item.dataset.id = String(m.id)

  const meta = document.createElement('div')
  meta.className = 'meta'
  const time = document.createElement('time')
  time.dateTime = m.timestamp
  time.title = m.timestamp
  time.textContent = formatTime(m.timestamp)
  const who = document.createElement('span')
  who.className = 'player'
  who.textContent = m.player_name
  meta.append(time, who)
  if (m.type === 'reply') {
    const tag = document.createElement('span')
    tag.className = 'tag'
    tag.textContent = 'auto-reply'
    meta.append(tag)
  }
  if (m.channel && m.channel !== 'global') {
    const channel = document.createElement('span')
    channel.className = 'tag channel'
    channel.textContent = `#${m.channel}`
    meta.append(channel)
  }
  const id = document.createElement('span')
  id.className = 'id'
  id.textContent = `#${m.id}`
  meta.append(id)

  const text = document.createElement('p')
  text.className = 'text'
  text.textContent = m.message
  item.append(meta, text)
  return item
}

const scrollToEnd = () => {
  els.list.scrollTop = els.list.scrollHeight
}

const render = () => {
  const { limit } = state.view
  const ids = [...state.messages.keys()].sort((a, b) => a - b)
  // Keep the newest `limit`, as the server does.
  for (const id of ids.slice(0, Math.max(0, ids.length - limit))) state.messages.delete(id)
  const shown = ids.slice(-limit).map((id) => state.messages.get(id))
  // Only what changed touches the DOM, so the live region announces new messages, not the whole list again.
  // Ids start over in a new store life (epoch), so then nothing is reused.
  if (state.renderedEpoch !== state.epoch) els.list.replaceChildren()
  state.renderedEpoch = state.epoch
  const wanted = new Set(shown.map((m) => m.id))
  for (const item of [...els.list.children]) if (!wanted.has(Number(item.dataset.id))) item.remove()
  // What is left is in id order, as is `shown`: walk both and insert the missing ones in place.
  let next = els.list.firstElementChild
  for (const m of shown) {
    if (next && Number(next.dataset.id) === m.id) next = next.nextElementSibling
    else els.list.insertBefore(renderMessage(m), next)
  }
  els.empty.hidden = shown.length > 0
  els.count.textContent = `(${shown.length})`
  if (state.stickToBottom) scrollToEnd()
}

const matchesView = (m) => {
  const { player, channel } = state.view
  if ((m.channel || 'global') !== (channel || 'global')) return false
  return !player || m.player_name.toLowerCase() === player.toLowerCase()
}

// A removal entry takes the messages it names off the screen, wherever it comes from (the stream, a page after a cursor).
const remove = (entry) => {
  for (const id of Array.isArray(entry.removes) ? entry.removes : []) {
    state.messages.delete(id)
    state.removed.add(id)
  }
  for (const id of state.removed) {
    if (state.removed.size <= REMOVED_KEPT) break
    state.removed.delete(id)
  }
  if (entry.id > state.nextAfter) state.nextAfter = entry.id
}

const add = (m) => {
  if (m.type === 'removal') return remove(m)
  if (!matchesView(m) || state.removed.has(m.id)) return
  state.messages.set(m.id, m)
  if (m.id > state.nextAfter) state.nextAfter = m.id
}

// ---- loading, live stream and polling ------------------------------------------

const load = async () => {
  const request = api(listPath(state.view))
  state.loading = request
  state.loadedAt = Date.now()
  try {
    const page = await request
    if (state.loading !== request) return // a newer load superseded this one
    const epochChanged = state.epoch !== null && state.epoch !== page.epoch
    if (epochChanged) state.removed.clear()
    // A list without a cursor holds no removal entries; one read before a removal may still hold what it removed.
    const fresh = new Map(page.messages.filter((m) => m.type !== 'removal' && !state.removed.has(m.id)).map((m) => [m.id, m]))
    // Ids only grow within an epoch: what the stream brought after this page was read stays.
    if (!epochChanged) for (const [id, m] of state.messages) if (id > page.next_after) fresh.set(id, m)
    state.messages = fresh
    state.epoch = page.epoch
    state.nextAfter = Math.max(page.next_after, ...fresh.keys())
    showError(els.listError, '')
    render()
    if (epochChanged || (!state.stream && Date.now() - state.streamFailedAt >= STREAM_RETRY_MS)) openStream()
  } catch (err) {
    if (state.loading === request) showError(els.listError, err.message)
  }
}

const setConnection = (live) => {
  els.connection.textContent = live ? 'live' : 'polling every 5 s'
  els.connection.classList.toggle('live', live)
}

// EventSource cannot send a header: with a key, the stream is opened with a short-lived read token asked for first.
const openStream = async () => {
  if (state.stream) state.stream.close()
  state.stream = null
  if (typeof EventSource !== 'function') return setConnection(false)
  let path = streamPath(state.view, state.nextAfter)
  if (apiKey()) {
    try {
      const { token } = await api('/api/token', { method: 'POST' })
      path += `&token=${encodeURIComponent(token)}`
    } catch {
      state.streamFailedAt = Date.now()
      return setConnection(false)
    }
  }
  if (state.stream) return
  const stream = new EventSource(path)
  state.stream = stream
  stream.onopen = () => setConnection(true)
  stream.onerror = () => {
    if (state.stream !== stream) return
    // EventSource retries a dropped connection by itself and resumes with Last-Event-ID;
    // a refused one (no such endpoint, an error status) it gives up on: try again later.
    // Either way the poll keeps the list fresh meanwhile.
    if (stream.readyState === EventSource.CLOSED) {
      state.stream = null
      state.streamFailedAt = Date.now()
    }
    setConnection(false)
  }
  stream.onmessage = (event) => {
    try {
      add(JSON.parse(event.data))
      render()
    } catch {
      // A malformed event is skipped; the next poll or load repairs the list.
    }
  }
  // A removal comes as an event of its own kind, so onmessage above never sees one.
  stream.addEventListener('removal', (event) => {
    try {
      remove(JSON.parse(event.data))
      render()
    } catch {
      // As above: the next load repairs the list.
    }
  })
  stream.addEventListener('gap', () => load())
}

const streamIsLive = () => state.stream && state.stream.readyState === EventSource.OPEN

setInterval(() => {
  if (!streamIsLive() || Date.now() - state.loadedAt >= RECONCILE_MS) load()
}, POLL_MS)

const reloadWithFilters = () => {
  if (state.stream) state.stream.close()
  state.stream = null
  state.streamFailedAt = -Infinity
  state.view = filters()
  state.messages.clear()
  state.stickToBottom = true
  setConnection(false)
  load()
}

// ---- actions ---------------------------------------------------------------------

try {
  els.apiKey.value = sessionStorage.getItem(KEY_STORAGE) || ''
} catch {
  // Storage refused (a private window's policy): the key lives in the field only.
}
els.apiKey.addEventListener('change', () => {
  try {
    if (apiKey()) sessionStorage.setItem(KEY_STORAGE, apiKey())
    else sessionStorage.removeItem(KEY_STORAGE)
  } catch {
    // As above.
  }
  reloadWithFilters()
})

els.sendForm.addEventListener('submit', async (event) => {
  event.preventDefault()
  showError(els.sendError, '')
  const body = { player_name: els.player.value, message: els.message.value }
  const channel = els.channel.value.trim()
  if (channel) body.channel = channel
  els.send.disabled = true
  try {
    const sent = await api('/api/send', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    })
    localStorage.setItem('playerName', els.player.value)
    els.message.value = ''
    els.messageLength.textContent = '0'
    add(sent.message)
    if (sent.auto_reply) add(sent.auto_reply)
    state.stickToBottom = true
    render()
    els.message.focus()
  } catch (err) {
    showError(els.sendError, err.message)
  } finally {
    els.send.disabled = false
  }
})

els.message.addEventListener('input', () => {
  els.messageLength.textContent = String([...els.message.value].length)
})

els.message.addEventListener('keydown', (event) => {
  // Enter sends, Shift+Enter starts a new line, as in a chat box.
  if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
    event.preventDefault()
    els.sendForm.requestSubmit()
  }
})

els.refresh.addEventListener('click', () => load())

els.clear.addEventListener('click', async () => {
  if (!window.confirm('Clear all messages on the server, in every channel? This cannot be undone.')) return
  try {
    await api('/api/clear', { method: 'POST' })
    state.messages.clear()
    render()
    showError(els.listError, '')
  } catch (err) {
    showError(els.listError, err.message)
  }
})

let filterTimer
const onFilterChange = () => {
  clearTimeout(filterTimer)
  filterTimer = setTimeout(reloadWithFilters, 300)
}
els.filterPlayer.addEventListener('input', onFilterChange)
els.filterLimit.addEventListener('input', onFilterChange)
els.channel.addEventListener('change', reloadWithFilters)
$('filters').addEventListener('submit', (event) => event.preventDefault())

// The list follows new messages while it is scrolled to its end, and stays put while the reader scrolls back.
els.list.addEventListener('scroll', () => {
  state.stickToBottom = els.list.scrollHeight - els.list.scrollTop - els.list.clientHeight < 40
}, { passive: true })
window.addEventListener('resize', () => {
  if (state.stickToBottom) scrollToEnd()
})

els.player.value = localStorage.getItem('playerName') || ''
state.view = filters()
setConnection(false)
load()
