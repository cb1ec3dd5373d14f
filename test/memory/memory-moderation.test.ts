import { createMemoryAuditLog } from '../../adapters/memory/memory-audit-log'
import { createMemoryMutes } from '../../adapters/memory/memory-mutes'
import { auditLogContract } from '../contracts/audit-log.contract'
import { mutesContract } from '../contracts/mutes.contract'

mutesContract('memory', async () => ({ mutes: createMemoryMutes(), close: async () => undefined }), { sharedByProcesses: false, canLose: false })

auditLogContract('memory', async ({ maxEntries }) => ({ log: createMemoryAuditLog({ maxEntries }), close: async () => undefined }), { sharedByProcesses: false })
