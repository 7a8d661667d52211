import type { Transport } from "./transport";
import { encodePath } from "./transport";

/** One card due, as `GET /v1/review/due` lists it. */
export interface DueCard {
	key: string;
	vault: string;
	path: string;
	node: string;
	title: string;
	due: string;
	state: string;
	retrievability: number;
}

export interface DueAnswer {
	on: string;
	total: number;
	cards: DueCard[];
}

/** One search result of `GET /v1/search`. */
export interface SearchHit {
	vault: string;
	path: string;
	node_id: string;
	type: string;
	snippet: string;
	state: string | null;
	score: number;
	color: string | null;
}

/** `POST /v1/review/canvas`'s answer; with no card due nothing is written. */
export interface ReviewCanvas {
	vault: string;
	path: string;
	on: string;
	cards: string[];
	added: number;
}

export type Rating = "again" | "hard" | "good" | "easy";

export interface RatingAnswer {
	card: { due: string; state: string };
	review?: { rating: string; scheduled: boolean };
}

/** The daemon's review and search routes, typed; everything else goes through the transport directly. */
export class CanvasdApi {
	constructor(readonly transport: Transport) {}

	due(vault?: string, limit = 50): Promise<DueAnswer> {
		return this.transport.get<DueAnswer>("/v1/review/due", { vault, limit });
	}

	/** Build (or complete) today's review canvas: its vault-relative path and the cards on it. */
	buildReviewCanvas(vault: string): Promise<ReviewCanvas> {
		return this.transport.post<ReviewCanvas>("/v1/review/canvas", { vault }, { timeoutMs: 120_000 });
	}

	rate(vault: string, path: string, node: string, rating: Rating): Promise<RatingAnswer> {
		const url = `/v1/review/cards/${encodeURIComponent(vault)}/${encodePath(path)}/nodes/${encodeURIComponent(node)}/ratings`;
		return this.transport.post<RatingAnswer>(url, { rating });
	}

	async search(q: string, vault?: string, limit = 20): Promise<SearchHit[]> {
		const answer = await this.transport.get<{ results?: SearchHit[] }>("/v1/search", { q, vault, limit });
		return answer.results ?? [];
	}
}
