"""`modelpick train`: read the data a profile names (`train.data`), train the recommended
architecture on it and save the model with what `predict` needs to read new inputs.

Nothing here is imported by `import modelpick`; numpy, pandas, Pillow and the other readers are
imported only when data is read (docs/data.md).
"""
