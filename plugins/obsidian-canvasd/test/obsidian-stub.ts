/** A stand-in for the `obsidian` module, which exists only inside the app: just what the modules under test touch. */

export const Platform = { isDesktop: true, isMobile: false, isMacOS: process.platform === "darwin" };

export class Notice {
	static shown: string[] = [];
	constructor(readonly message: string) {
		Notice.shown.push(message);
	}
}

export class Component {
	private cleanups: (() => void)[] = [];
	load(): void {}
	/** Run what was registered, newest first, as Obsidian does on unload. */
	unload(): void {
		for (const cleanup of this.cleanups.splice(0).reverse()) cleanup();
	}
	register(callback: () => void): void {
		this.cleanups.push(callback);
	}
	registerInterval(id: number): number {
		this.register(() => window.clearInterval(id));
		return id;
	}
	/** The stand-in apps' `on(...)` give refs with `off()`: unloading detaches the handler, as Obsidian's does. */
	registerEvent(ref: unknown): void {
		const off = (ref as { off?: unknown } | null)?.off;
		if (typeof off === "function") this.register(() => (off as () => void)());
	}
	get registered(): number {
		return this.cleanups.length;
	}
}

/** An element that remembers its text and attributes (Obsidian's HTMLElement helpers). */
export class FakeElement {
	text = "";
	attrs: Record<string, string> = {};
	setText(text: string): void {
		this.text = text;
	}
	setAttr(name: string, value: string): void {
		this.attrs[name] = value;
	}
}

export class Plugin extends Component {
	commands: { id: string; name: string }[] = [];
	views = new Map<string, unknown>();
	tabs: unknown[] = [];
	statusItems: FakeElement[] = [];
	data: unknown = null;

	constructor(readonly app: unknown, readonly manifest: unknown) {
		super();
	}
	addCommand<T extends { id: string; name: string }>(command: T): T {
		this.commands.push(command);
		return command;
	}
	addStatusBarItem(): FakeElement {
		const el = new FakeElement();
		this.statusItems.push(el);
		return el;
	}
	addSettingTab(tab: unknown): void {
		this.tabs.push(tab);
	}
	registerView(type: string, creator: unknown): void {
		this.views.set(type, creator);
	}
	loadData(): Promise<unknown> {
		return Promise.resolve(this.data);
	}
	saveData(data: unknown): Promise<void> {
		this.data = data;
		return Promise.resolve();
	}
}

export class PluginSettingTab {
	containerEl = { empty: (): void => {} };
	constructor(readonly app: unknown, readonly plugin: unknown) {}
}

export class Setting {
	constructor(readonly containerEl: unknown) {}
}

export class Modal {
	constructor(readonly app: unknown) {}
	open(): void {}
	close(): void {}
}

export class SuggestModal<T> extends Modal {
	emptyStateText = "";
	setPlaceholder(_text: string): void {}
	chosen: T[] = [];
}

export class View {
	getViewType(): string {
		return "";
	}
}
export class ItemView extends View {}
export class FileView extends ItemView {
	file: TFile | null = null;
}
export class TFile {
	constructor(readonly path = "") {}
}
export class WorkspaceLeaf {}
export type App = Record<string, unknown>;
