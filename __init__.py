"""QGIS entry point. The repository root is the plugin folder."""


def classFactory(iface):  # noqa: N802 (QGIS's name)
    from .plugin.main import S1RiceMapperPlugin

    return S1RiceMapperPlugin(iface)
