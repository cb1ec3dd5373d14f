import * as O from 'fp-ts/Option'
import type { MessageText, PlayerName } from './message'

/** The server's answer to a player's message, or none. */
export type AutoReply = (player: PlayerName) => O.Option<MessageText>

export const DEFAULT_AUTO_REPLY_TEMPLATE = 'Hello {player}!'

/** `{player}` stands for the sender's name; an empty template turns replies off. */
export const autoReplyFromTemplate = (template: string): AutoReply => {
  if (template.trim() === '') return () => O.none
  // Split once, here: every send fills the template.
  const parts = template.split('{player}')
  return (player) => O.some(parts.join(player) as MessageText)
}
