"""One module per part of the explorer UI: ``build(...)`` lays it out and wires it; its
callback class holds what the callbacks compute (combined in :class:`demo.app.ExplorerApp`)."""
