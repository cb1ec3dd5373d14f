import { createMemoryMessageStore } from '../../adapters/memory/memory-message-store'
import { playerGapContract } from '../contracts/player-gaps.contract'

playerGapContract('memory', async (options) => ({ repo: createMemoryMessageStore(options), close: async () => undefined }))
