/** Generated machine names in Fly's style ("twilight-field-6033") and machine id rules. */

const ADJECTIVES = [
  'autumn', 'billowing', 'bitter', 'black', 'blue', 'bold', 'broad', 'calm', 'cold', 'cool', 'crimson',
  'damp', 'dark', 'dawn', 'delicate', 'divine', 'dry', 'empty', 'falling', 'floral', 'fragrant', 'frosty',
  'gentle', 'green', 'hidden', 'holy', 'icy', 'late', 'lingering', 'little', 'lively', 'long', 'misty',
  'morning', 'muddy', 'nameless', 'old', 'patient', 'polished', 'proud', 'purple', 'quiet', 'red',
  'restless', 'rough', 'shy', 'silent', 'small', 'snowy', 'solitary', 'sparkling', 'spring', 'still',
  'summer', 'throbbing', 'twilight', 'wandering', 'weathered', 'white', 'wild', 'winter', 'young',
];
const NOUNS = [
  'bird', 'breeze', 'brook', 'bush', 'butterfly', 'cherry', 'cloud', 'darkness', 'dawn', 'dew', 'dream',
  'dust', 'feather', 'field', 'fire', 'firefly', 'flower', 'fog', 'forest', 'frog', 'frost', 'glade',
  'glitter', 'grass', 'haze', 'hill', 'lake', 'leaf', 'meadow', 'moon', 'morning', 'mountain', 'night',
  'paper', 'pine', 'pond', 'rain', 'resonance', 'river', 'sea', 'shadow', 'shape', 'silence', 'sky',
  'smoke', 'snow', 'snowflake', 'sound', 'star', 'sun', 'sunset', 'surf', 'thunder', 'tree', 'violet',
  'voice', 'water', 'waterfall', 'wave', 'wildflower', 'wind', 'wood',
];

/** Builds a name from three random integers supplied by the caller. */
export function machineName(a: number, b: number, c: number): string {
  const adjective = ADJECTIVES[a % ADJECTIVES.length] as string;
  const noun = NOUNS[b % NOUNS.length] as string;
  return `${adjective}-${noun}-${String(c % 10000).padStart(4, '0')}`;
}

export const MACHINE_ID = /^[0-9a-f]{14}$/;
export const MACHINE_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;
export const APP_NAME = /^[a-z0-9][a-z0-9-]{1,62}$/;
export const REGION = /^[a-z0-9]{2,16}$/;
