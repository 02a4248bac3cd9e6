//! A compact view of schemars JSON schemas: for each definition, the type of
//! each property, enough to walk a document field by field.

use std::collections::HashMap;

use serde_json::{Map, Value};

/// The type found at a position of a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TypeRef {
    /// A definition (by index), usually an object with properties.
    Def(usize),
    /// A list of the given item type.
    Array(Box<TypeRef>),
    /// A map (`additionalProperties`) with the given value type.
    Map(Box<TypeRef>),
    /// A scalar or free-form value: nothing below it is known.
    Scalar,
}

#[derive(Debug, Default)]
pub(crate) struct Definition {
    /// Empty for inline object schemas.
    pub name: String,
    pub properties: HashMap<String, TypeRef>,
    pub additional: Option<TypeRef>,
}

#[derive(Debug, Default)]
pub(crate) struct SchemaIndex {
    pub defs: Vec<Definition>,
    by_name: HashMap<String, usize>,
}

impl SchemaIndex {
    /// Indexes the definitions a `schemars::SchemaGenerator` collected.
    pub fn build(definitions: &Map<String, Value>) -> Self {
        let mut index = SchemaIndex::default();
        for name in definitions.keys() {
            index.by_name.insert(name.clone(), index.defs.len());
            index.defs.push(Definition {
                name: name.clone(),
                ..Definition::default()
            });
        }
        for (name, schema) in definitions {
            let (properties, additional) = index.object_shape(schema);
            if let Some(def) = index.by_name.get(name).and_then(|&i| index.defs.get_mut(i)) {
                def.properties = properties;
                def.additional = additional;
            }
        }
        index
    }

    pub fn definition(&self, i: usize) -> Option<&Definition> {
        self.defs.get(i)
    }

    fn object_shape(&mut self, schema: &Value) -> (HashMap<String, TypeRef>, Option<TypeRef>) {
        let mut properties = HashMap::new();
        if let Some(props) = schema.get("properties").and_then(Value::as_object) {
            for (name, prop) in props {
                let t = self.type_of(prop);
                properties.insert(name.clone(), t);
            }
        }
        let additional = match schema.get("additionalProperties") {
            Some(ap @ Value::Object(_)) => Some(self.type_of(ap)),
            _ => None,
        };
        (properties, additional)
    }

    /// The type a (sub)schema describes.
    pub fn type_of(&mut self, schema: &Value) -> TypeRef {
        if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
            let name = reference
                .rsplit('/')
                .next()
                .unwrap_or(reference)
                .replace("~1", "/")
                .replace("~0", "~");
            return match self.by_name.get(&name) {
                Some(&i) => TypeRef::Def(i),
                None => TypeRef::Scalar,
            };
        }
        if let Some([only]) = schema
            .get("allOf")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
        {
            return self.type_of(only);
        }
        let ty = schema.get("type").and_then(Value::as_str);
        if ty == Some("array") || schema.get("items").is_some() {
            return match schema.get("items") {
                Some(items) => TypeRef::Array(Box::new(self.type_of(items))),
                None => TypeRef::Array(Box::new(TypeRef::Scalar)),
            };
        }
        if schema.get("properties").is_some() {
            let (properties, additional) = self.object_shape(schema);
            self.defs.push(Definition {
                name: String::new(),
                properties,
                additional,
            });
            return TypeRef::Def(self.defs.len() - 1);
        }
        match schema.get("additionalProperties") {
            Some(ap @ Value::Object(_)) => TypeRef::Map(Box::new(self.type_of(ap))),
            _ => TypeRef::Scalar,
        }
    }
}
