import { createMemoryMessageStore } from '../../adapters/memory/memory-message-store'
import { createMemoryOutboundQueues } from '../../adapters/memory/memory-outbound-queues'
import { systemClock } from '../../adapters/system/timer'
import { outboundQueuesContract } from '../contracts/outbound-queues.contract'
import { run } from '../contracts/message-repository.contract'

outboundQueuesContract('memory', async (routes) => {
  const queues = createMemoryOutboundQueues({ routes, clock: systemClock })
  const store = createMemoryMessageStore({ maxMessages: 1000, maxChannels: 32, onStored: queues.offer, onRemoved: queues.withdraw })
  return { append: (request) => run(store.append(request)), store, queues, close: async () => undefined }
}, { sharedByProcesses: false })
