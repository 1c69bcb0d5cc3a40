<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>
<qgis version="3.22.16-Białowieża" styleCategories="AllStyleCategories" hasScaleBasedVisibilityFlag="0" minScale="1e+08" maxScale="0">
  <pipe-data-defined-properties>
    <Option type="Map">
      <Option type="QString" name="name" value=""/>
      <Option name="properties"/>
      <Option type="QString" name="type" value="collection"/>
    </Option>
  </pipe-data-defined-properties>
  <pipe>
    <provider>
      <resampling enabled="false" maxOversampling="2" zoomedInResamplingMethod="nearestNeighbour" zoomedOutResamplingMethod="nearestNeighbour"/>
    </provider>
    <rasterrenderer type="singlebandpseudocolor" band="1" opacity="1" alphaBand="-1" nodataColor="" classificationMin="1" classificationMax="366">
      <rasterTransparency/>
      <minMaxOrigin>
        <limits>None</limits>
        <extent>WholeRaster</extent>
        <statAccuracy>Estimated</statAccuracy>
        <cumulativeCutLower>0.02</cumulativeCutLower>
        <cumulativeCutUpper>0.98</cumulativeCutUpper>
        <stdDevFactor>2</stdDevFactor>
      </minMaxOrigin>
      <rastershader>
        <colorrampshader colorRampType="DISCRETE" classificationMode="1" clip="0" minimumValue="1" maximumValue="366">
          <colorramp type="gradient" name="[source]">
            <Option type="Map">
              <Option type="QString" name="color1" value="49,54,149,255"/>
              <Option type="QString" name="color2" value="103,0,31,255"/>
            </Option>
          </colorramp>
            <item value="31" color="#313695" alpha="255" label="Jan (day of year to 31)"/>
            <item value="59" color="#4575b4" alpha="255" label="Feb (day of year to 59)"/>
            <item value="90" color="#74add1" alpha="255" label="Mar (day of year to 90)"/>
            <item value="120" color="#abd9e9" alpha="255" label="Apr (day of year to 120)"/>
            <item value="151" color="#e0f3f8" alpha="255" label="May (day of year to 151)"/>
            <item value="181" color="#ffffbf" alpha="255" label="Jun (day of year to 181)"/>
            <item value="212" color="#fee090" alpha="255" label="Jul (day of year to 212)"/>
            <item value="243" color="#fdae61" alpha="255" label="Aug (day of year to 243)"/>
            <item value="273" color="#f46d43" alpha="255" label="Sep (day of year to 273)"/>
            <item value="304" color="#d73027" alpha="255" label="Oct (day of year to 304)"/>
            <item value="334" color="#a50026" alpha="255" label="Nov (day of year to 334)"/>
            <item value="366" color="#67001f" alpha="255" label="Dec (day of year to 366)"/>
        </colorrampshader>
      </rastershader>
    </rasterrenderer>
    <brightnesscontrast brightness="0" contrast="0" gamma="1"/>
    <huesaturation colorizeOn="0" colorizeRed="255" colorizeGreen="128" colorizeBlue="128" colorizeStrength="100" grayscaleMode="0" saturation="0"/>
    <rasterresampler maxOversampling="2"/>
    <resamplingStage>resamplingFilter</resamplingStage>
  </pipe>
  <blendMode>0</blendMode>
</qgis>
