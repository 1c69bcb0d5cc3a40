"""Writers every output shares: GeoTIFF strips written as they are produced, QML styles next to them."""
